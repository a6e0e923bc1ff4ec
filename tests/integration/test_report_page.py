"""The HTML report in a real headless Chromium: it loads nothing, logs no error, shows every gate with its
status, and every number it shows from a gate equals the outcome's JSON.

Outcomes come from the pure gates run on small synthetic data. Where CI=true a missing browser fails
these tests; elsewhere they skip with the reason.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gates.bias import audit_bias
from gates.data_validation import judge_validation
from gates.decision import decide
from gates.drift import judge_drift
from gates.evaluation import evaluate
from gates.integration import judge_integration
from gates.latency import judge_latency
from gates.latency_stats import summarise
from gates.outcome import Outcome, PromotionOutcome
from gates.output_check import check_outputs
from gates.policy import (
    BiasGatePolicy,
    DataValidationGatePolicy,
    DriftGatePolicy,
    EvaluationGatePolicy,
    IntegrationGatePolicy,
    LatencyGatePolicy,
    OutputCheckGatePolicy,
    PromotionPolicy,
    RobustnessGatePolicy,
)
from gates.result import GateResult, errored, skipped
from gates.robustness import RobustnessProfile, judge
from tasks.report_page import render_report
from tasks.report_tables import FIELDS, metric_key

DECIDED_AT = "2026-11-25T12:00:00+00:00"
LINKS = {"Data Docs": "reports/data-docs/index.html", "evidently drift report": "reports/drift.html"}
BOOTSTRAP = {"resamples": 200, "confidence": 0.95, "seed": 0}
EVALUATION = EvaluationGatePolicy.model_validate(
    {
        "metrics": {
            "roc_auc": {"threshold": 0.7, "min_absolute_change": 0.002},
            "accuracy": {"threshold": 0.6, "max_regression": 0.01},
            "log_loss": {"threshold": 0.7, "max_regression": 0.01},
        },
        "bootstrap": BOOTSTRAP,
    }
)
BIAS = BiasGatePolicy.model_validate(
    {
        "sensitive_features": ["sex", "race"],
        "min_group_size": 60,
        "bootstrap": BOOTSTRAP,
        "metrics": {
            "demographic_parity_difference": {"max_worsening": 0.05},
            "equalized_odds_difference": {"limit": 0.5, "max_worsening": 0.1},
        },
    }
)
ROBUSTNESS = RobustnessGatePolicy(epsilons=[0.1], min_robust_accuracy={0.1: 0.7}, max_worse_than_champion=0.03)
LATENCY = LatencyGatePolicy(batch_sizes=[1, 64], slo_p95_ms={1: 1.0, 64: 2.0}, max_regression=0.5)
ENVIRONMENT = {"device": "cpu", "device_name": "x86_64", "torch": "2.13.0+cpu", "threads": 1}


def synthetic(seed: int = 7, rows: int = 1500) -> tuple[pd.DataFrame, np.ndarray, dict[str, np.ndarray]]:
    """Rows with two sensitive columns, labels, and three models' scores: champion, better, worse and biased."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    frame = pd.DataFrame(
        {
            "sex": rng.choice(["Female", "Male"], rows, p=[0.4, 0.6]),
            "race": rng.choice(["A", "B", "C"], rows, p=[0.6, 0.3, 0.1]),
            "age": rng.integers(18, 80, rows),
        }
    )
    y = (x + rng.normal(scale=0.8, size=rows) > 0.3).astype(int)

    def score(noise: float, shift: np.ndarray | float = 0.0) -> np.ndarray:
        return 1 / (1 + np.exp(-1.8 * (x + rng.normal(scale=noise, size=rows) - 0.3 + shift)))

    female = (frame["sex"] == "Female").to_numpy()
    scores = {"champion": score(0.6), "better": score(0.3), "worse_biased": score(1.0, np.where(female, -1.5, 0.3))}
    return frame, y, scores


def latency_stats(p95_ms: dict[int, float]) -> list:
    """Stats whose p95 is about p95_ms per batch size (a flat run of 100 calls)."""
    return [summarise(batch, np.full(100, ms / 1000.0)) for batch, ms in p95_ms.items()]


def policy_with_gates() -> PromotionPolicy:
    return PromotionPolicy.model_validate(
        {
            "model_name": "adult-income",
            "eval_data": {"path": "eval.csv", "target": "income_gt_50k"},
            "gates": {
                "evaluation": EVALUATION.model_dump(),
                "bias": BIAS.model_dump(),
                "robustness": ROBUSTNESS.model_dump(),
                "latency": LATENCY.model_dump(),
            },
        }
    )


def outcome_of(results: list[GateResult], version: str, champion: str | None, outcome: Outcome) -> PromotionOutcome:
    decision = decide(results)
    after = version if outcome is Outcome.PROMOTED else champion
    return PromotionOutcome(
        model="adult-income",
        version=version,
        champion_before=champion,
        champion_after=after,
        decision=decision,
        outcome=outcome,
        message="; ".join(decision.reasons),
        gates=tuple(results),
        policy_hash="f" * 64,
        flow_run_id="0b7c1d8e-run",
        evaluation_key="e" * 64,
    )


def rejected_on_several_gates() -> tuple[PromotionOutcome, PromotionPolicy | None]:
    """v3 against v1: worse, biased, less robust, slower, one integration check and one expectation failed."""
    frame, y, s = synthetic()
    cand, champ = s["worse_biased"], s["champion"]
    expectations = [
        {"expectation": "expect_column_values_to_be_between", "column": "age", "success": False,
         "unexpected_count": 12, "unexpected_percent": 0.8, "observed_value": None, "examples": [17, 16, 95]},
        {"expectation": "expect_column_values_to_not_be_null", "column": "sex", "success": True,
         "unexpected_count": 0, "unexpected_percent": 0.0, "observed_value": None, "examples": []},
        {"expectation": "expect_table_row_count_to_be_between", "column": "", "success": True,
         "unexpected_count": None, "unexpected_percent": None, "observed_value": 1500, "examples": []},
    ]  # fmt: skip
    stats = {"evaluated_expectations": 3, "successful_expectations": 2, "unsuccessful_expectations": 1}
    drift_columns = [
        {"column": "age", "method": "K-S p_value", "threshold": 0.05, "score": 0.001, "drifted": True},
        {"column": "sex", "method": "chi-square p_value", "threshold": 0.05, "score": 0.62, "drifted": False},
        {"column": "race", "method": "Jensen-Shannon distance", "threshold": 0.1, "score": 0.02, "drifted": False},
    ]
    checks = [
        {"name": "loads in a clean process", "passed": True, "detail": "pyfunc flavour, 0.8 s"},
        {"name": "single rows equal the batch", "passed": False, "detail": "max |difference| 0.0021 > 1e-06 at row 4"},
    ]
    results = [
        judge_validation(expectations, stats, len(frame), DataValidationGatePolicy(blocking=False)),
        evaluate(y, cand, champ, EVALUATION),
        judge_drift(drift_columns, 1 / 3, 1, ["age", "sex", "race"], DriftGatePolicy(max_drift_share=0.3)),
        audit_bias(frame, y, (cand >= 0.5).astype(int), (champ >= 0.5).astype(int), BIAS),
        judge(
            RobustnessProfile(0.81, {"fgsm": {"0.1": 0.74}}, black_box=[_noise(0.76, 0.31)]),
            RobustnessProfile(0.83, {"fgsm": {"0.1": 0.79}}, black_box=[_noise(0.8, 0.05)]),
            ROBUSTNESS,
        ),
        judge_latency(latency_stats({1: 1.4, 64: 2.5}), latency_stats({1: 0.6, 64: 1.9}), LATENCY, ENVIRONMENT),
        judge_integration(checks, IntegrationGatePolicy(), {"load_seconds": 0.81}),
    ]
    return outcome_of(results, "3", "1", Outcome.REJECTED), policy_with_gates()


def _noise(accuracy: float, flip_rate: float) -> dict:
    return {"perturbation": "gaussian_noise", "level": 0.1, "accuracy": accuracy, "flip_rate": flip_rate}


def first_champion() -> tuple[PromotionOutcome, PromotionPolicy | None]:
    """v1 with no champion: absolute thresholds only, promoted."""
    frame, y, s = synthetic()
    cand = s["better"]
    results = [
        evaluate(y, cand, None, EVALUATION),
        audit_bias(frame, y, (cand >= 0.5).astype(int), None, BIAS),
        judge(RobustnessProfile(0.84, {"fgsm": {"0.1": 0.8}, "pgd_linf": {"0.1": 0.79}}), None, ROBUSTNESS),
        judge_latency(latency_stats({1: 0.3, 64: 0.9}), None, LATENCY, ENVIRONMENT),
    ]
    return outcome_of(results, "1", None, Outcome.PROMOTED), None


def dry_run_with_skipped_and_errored_gates() -> tuple[PromotionOutcome, PromotionPolicy | None]:
    """v2 against v1 as a dry run: one gate skipped, one errored (so it would be rejected)."""
    frame, y, s = synthetic()
    error = RuntimeError("CUDA error: out of memory\nwhile timing batch 64\n(the traceback's last line)")
    results = [
        evaluate(y, s["better"], s["champion"], EVALUATION),
        skipped("bias", "no sensitive features named in the policy"),
        skipped("robustness", "the model is not a torch module: white-box attacks need gradients"),
        errored("latency", error),
    ]
    return outcome_of(results, "2", "1", Outcome.DRY_RUN), None


def degenerate_candidate() -> tuple[PromotionOutcome, PromotionPolicy | None]:
    """v4 scores every row 0.1, so it never predicts the positive class: the output check says so first."""
    frame, y, s = synthetic()
    cand, champ = np.full(len(y), 0.1), s["champion"]
    results = [
        evaluate(y, cand, champ, EVALUATION),
        audit_bias(frame, y, (cand >= 0.5).astype(int), (champ >= 0.5).astype(int), BIAS),
        check_outputs(cand, champ, y, 0.5, OutputCheckGatePolicy(), candidate_label="v4"),
    ]
    return outcome_of(results, "4", "1", Outcome.REJECTED), None


SCENARIOS = {
    "rejected_on_several_gates": rejected_on_several_gates,
    "degenerate_candidate": degenerate_candidate,
    "first_champion": first_champion,
    "dry_run_with_skipped_and_errored_gates": dry_run_with_skipped_and_errored_gates,
}


def expected_numbers(data: dict) -> dict[str, float]:
    """data-metric key -> value for every number of every measurement in the outcome's JSON."""
    return {
        metric_key(g["gate"], m["name"], field): m[field]
        for g in data["gates"]
        for m in g["measurements"]
        for field in FIELDS
        if m[field] is not None
    }


def decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


def shown_matches(value: float, text: str, kind: str) -> bool:
    """The rounded text on the page stands for the JSON value."""
    text = text.strip().replace(",", "")
    if kind == "passfail":
        return text == ("pass" if value == 1.0 else "FAIL")
    if kind == "percent":
        shown = float(text.rstrip("%")) / 100
        return abs(shown - value) <= 0.5 * 10 ** -(decimals(text.rstrip("%")) + 2) + 1e-12
    if text == "NaN":
        return math.isnan(value)
    return abs(float(text) - value) <= 0.5 * 10 ** -decimals(text) + 1e-12


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_report_in_chromium_matches_the_outcome(scenario: str, browser, tmp_path: Path):
    outcome, policy = SCENARIOS[scenario]()
    summary = {"eval rows": 1500, "target": "income_gt_50k"}
    path = tmp_path / "report.html"
    path.write_text(render_report(outcome, decided_at=DECIDED_AT, links=LINKS, data_summary=summary, policy=policy))
    page = browser.new_page()
    console, page_errors, requests = [], [], []
    page.on("console", lambda m: console.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: page_errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri(), wait_until="load")

    assert (console, page_errors) == ([], [])
    assert requests == [path.as_uri()]
    data = outcome.model_dump(mode="json")
    banner = page.locator("#decision")
    assert (banner.get_attribute("data-verdict"), banner.get_attribute("data-outcome")) == (
        data["decision"]["verdict"],
        data["outcome"],
    )
    champion = f"against champion v{outcome.champion_before}" if outcome.champion_before else "with no champion"
    assert f"adult-income v{outcome.version} {champion}" in banner.inner_text()
    why = page.locator("#why").inner_text()
    assert all(reason in why for reason in data["decision"]["reasons"])

    shown = {}
    for g in data["gates"]:
        section = page.locator(f"#gate-{g['gate']}")
        row = page.locator(f'#gates tr[data-gate="{g["gate"]}"]')
        shown[g["gate"]] = (
            section.get_attribute("data-status"),
            section.locator(".badge").first.text_content(),
            row.get_attribute("data-status"),
            g["summary"] in section.inner_text(),
        )
    assert shown == {g["gate"]: (g["status"],) * 3 + (True,) for g in data["gates"]}
    assert page.locator("section.gate").count() == len(data["gates"])

    cells = page.eval_on_selector_all(
        "[data-metric]", "els => els.map(e => [e.dataset.metric, e.dataset.value, e.dataset.format, e.textContent])"
    )
    keys = [c[0] for c in cells]
    expected = expected_numbers(data)
    assert sorted(keys) == sorted(expected), "each number of the JSON on the page exactly once"
    mismatched = [
        (key, value, text)
        for key, value, kind, text in cells
        if float(value) != expected[key] or not shown_matches(expected[key], text, kind)
    ]
    assert mismatched == []


def test_report_is_one_page_that_fetches_nothing():
    """Without a browser too: no script, no external file, and a policy that forbids fetching anything."""
    outcome, policy = rejected_on_several_gates()
    html = render_report(outcome, decided_at=DECIDED_AT, links=LINKS, policy=policy)
    found = {token: token in html for token in ("<script", " src=", "url(", "@import", "<link", "http://", "https://")}
    assert found == dict.fromkeys(found, False)
    assert "default-src 'none'" in html
    assert html.count('<section class="gate') == len(outcome.gates)


def test_screenshot_helper_writes_a_png(browser, tmp_path: Path):
    from scripts.browser import screenshot

    outcome, policy = rejected_on_several_gates()
    html = tmp_path / "report.html"
    html.write_text(render_report(outcome, decided_at=DECIDED_AT, links=LINKS, policy=policy))
    png = screenshot(html, tmp_path / "shots" / "report.png", browser=browser)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
