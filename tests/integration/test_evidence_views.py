"""What a reviewer sees after one promotion and one rejection, run as a user runs them: `modelgate promote` in a
subprocess against a real `prefect server start` and a real `mlflow server` (SQLite, proxied artifacts).

Prefect: run names, tags and final states, one `modelgate.promotion.<outcome>` event per decision (read over
the REST API), the summary artifact in the UI (no mailto link, no table wider than the page), and the runs list
in headless Chromium. MLflow: the version's description and its four tags, and the ledger run's metrics,
parameters, dataset, description, link back to the Prefect run and the experiment's kind.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tasks.registry import STAMP_TAGS
from tests.conftest import ROOT
from tests.integration.conftest import FULL, MODEL, WORSE, decided_description, demo_description, write_policy
from tests.integration.servers import BIN, base_env, call, mlflow_server

pytestmark = pytest.mark.slow

EXPERIMENT = "model-promotions"


@dataclass(frozen=True)
class Decided:
    """The two CLI promotions: v6 (full) promoted as the first champion, then v7 (relationship-only) rejected."""

    api: str
    mlflow: str
    promoted: dict
    rejected: dict
    exit_codes: tuple[int, int]

    @property
    def ui(self) -> str:
        return self.api.removesuffix("/api")

    def client(self):
        from mlflow import MlflowClient

        return MlflowClient(self.mlflow)


def promote_cli(version: str, policy: str, env: dict[str, str], cwd: Path) -> tuple[int, dict]:
    args = [str(BIN / "modelgate"), "promote", "--model", MODEL, "--version", version, "--policy", policy, "--json"]
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.stdout.strip(), done.stderr[-3000:]
    return done.returncode, json.loads(done.stdout)


@pytest.fixture(scope="module")
def decided(template_registry: Path, prefect_server_api: str, tmp_path_factory: pytest.TempPathFactory):
    """A real MLflow server over a copy of the demo registry; two promotions through the CLI."""
    root = tmp_path_factory.mktemp("evidence-views")
    shutil.copy(template_registry, root / "mlflow.db")
    policy = write_policy(root / "quick-policy.yaml")
    with mlflow_server(f"sqlite:///{root / 'mlflow.db'}", root / "served-artifacts", root / "mlflow.log") as url:
        env = base_env(
            MLFLOW_TRACKING_URI=url,
            MODELGATE_HOME=str(root / "home"),
            PREFECT_API_URL=prefect_server_api,
            PREFECT_HOME=str(root / "prefect-client"),
        )
        env.pop("MODELGATE_ARTIFACT_ROOT", None)  # ledger artifacts go through the server, as in production
        promoted_code, promoted = promote_cli(FULL, policy, env, root)
        rejected_code, rejected = promote_cli(WORSE, policy, env, root)
        yield Decided(prefect_server_api, url, promoted, rejected, (promoted_code, rejected_code))


def test_outcomes_and_exit_codes(decided: Decided):
    assert (decided.promoted["outcome"], decided.rejected["outcome"]) == ("promoted", "rejected")
    assert decided.exit_codes == (0, 1)


@pytest.mark.parametrize(
    ("which", "state"), [("promoted", ("COMPLETED", "Promoted")), ("rejected", ("FAILED", "Rejected"))]
)
def test_flow_run_is_named_tagged_and_ends_in_the_outcomes_state(decided: Decided, which: str, state: tuple):
    outcome = getattr(decided, which)
    run = call("GET", f"{decided.api}/flow_runs/{outcome['flow_run_id']}")
    assert (run["name"], sorted(run["tags"]), (run["state"]["type"], run["state"]["name"])) == (
        f"{MODEL} v{outcome['version']}: {which}",
        [f"model:{MODEL}", f"outcome:{which}", f"version:{outcome['version']}"],
        state,
    )


def decision_events(api: str, name: str, ledger_run_id: str, timeout: float = 60) -> list[dict]:
    """The events with this name whose payload names this ledger run (events are stored asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        page = call("POST", f"{api}/events/filter", {"filter": {"event": {"name": [name]}}, "limit": 50})
        found = [e for e in page["events"] if e["payload"].get("ledger_run_id") == ledger_run_id]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(1)


@pytest.mark.parametrize("which", ["promoted", "rejected"])
def test_each_decision_emits_one_event_for_the_model_version(decided: Decided, which: str):
    outcome = getattr(decided, which)
    events = decision_events(decided.api, f"modelgate.promotion.{which}", outcome["ledger_run_id"])
    assert [(e["resource"], e["payload"]["decision"]) for e in events] == [
        (
            {
                "prefect.resource.id": f"modelgate.model.{MODEL}.v{outcome['version']}",
                "prefect.resource.name": f"{MODEL} v{outcome['version']}",
                "modelgate.model": MODEL,
                "modelgate.version": outcome["version"],
                "modelgate.outcome": which,
            },
            outcome["decision"]["verdict"],
        )
    ]
    related = {r["prefect.resource.id"] for r in events[0]["related"]}
    assert f"prefect.flow-run.{outcome['flow_run_id']}" in related


@pytest.mark.parametrize(("which", "label"), [("promoted", "full"), ("rejected", "relationship-only")])
def test_version_description_and_exactly_four_tags(decided: Decided, which: str, label: str):
    from gates.outcome import PromotionOutcome

    outcome = PromotionOutcome.model_validate(getattr(decided, which))
    version = decided.client().get_model_version(MODEL, outcome.version)
    report = outcome.report_links["report"]
    assert {k: v for k, v in version.tags.items() if k.startswith("modelgate.") and k not in STAMP_TAGS} == {
        "modelgate.decision": outcome.decision.verdict.value,
        "modelgate.outcome": which,
        "modelgate.ledger_run_id": outcome.ledger_run_id,
        "modelgate.report": report,
    }
    assert version.description == decided_description(outcome, demo_description(label))
    run_page = f"{decided.mlflow}/#/experiments/"
    assert report.startswith(run_page) and report.endswith(
        f"/runs/{outcome.ledger_run_id}/artifactPath/evidence/report.html?workflowType=machine_learning"
    )


def rounded(value: float) -> float:
    return float(f"{value:.6g}")


def test_ledger_run_holds_metrics_policy_dataset_description_and_prefect_link(decided: Decided):
    outcome = decided.rejected
    c = decided.client()
    run = c.get_run(outcome["ledger_run_id"])
    (auc,) = [
        m for g in outcome["gates"] if g["gate"] == "evaluation" for m in g["measurements"] if m["name"] == "roc_auc"
    ]
    metrics = {k: v for k, v in run.data.metrics.items() if k.startswith("evaluation.roc_auc.")}
    assert metrics == {
        "evaluation.roc_auc.candidate": rounded(auc["value"]),
        "evaluation.roc_auc.champion": rounded(auc["champion_value"]),
        "evaluation.roc_auc.difference": rounded(auc["value"] - auc["champion_value"]),
    }
    params = run.data.params
    assert (params["model_name"], params["gates.evaluation.metrics.roc_auc.min_absolute_change"]) == (MODEL, "0.002")
    (dataset,) = run.inputs.dataset_inputs
    assert (dataset.dataset.name, [(t.key, t.value) for t in dataset.tags]) == (
        "adult_eval.csv.gz",
        [("mlflow.data.context", "eval")],
    )
    assert json.loads(dataset.dataset.source) == {"uri": str(ROOT / "data" / "uci-adult" / "adult_eval.csv.gz")}
    assert run.data.tags["mlflow.note.content"].startswith(f"# {MODEL} v{WORSE}: REJECTED\n\n**Decision:** reject.")
    assert run.data.tags["modelgate.prefect_run"] == f"{decided.ui}/runs/flow-run/{outcome['flow_run_id']}"
    experiment = c.get_experiment_by_name(EXPERIMENT)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"


def test_report_is_logged_where_the_link_points(decided: Decided, tmp_path: Path):
    outcome = decided.rejected
    path = decided.client().download_artifacts(outcome["ledger_run_id"], "evidence/report.html", str(tmp_path))
    html = Path(path).read_text()
    assert f"<title>{MODEL} v{WORSE}: rejected</title>" in html


def test_runs_list_shows_the_rejection_as_rejected(decided: Decided, browser):
    run_id = decided.rejected["flow_run_id"]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{decided.ui}/runs")
    row = page.locator(f'.state-list-item:has(a[href="/runs/flow-run/{run_id}"])')
    row.wait_for(timeout=60_000)
    assert (
        row.locator(".flow-run-bread-crumbs__flow-run-link").inner_text(),
        row.locator(".state-badge").inner_text(),
    ) == (
        f"{MODEL} v{WORSE}: rejected",
        "Rejected",
    )
    page.close()


def test_summary_artifact_reads_well_in_the_prefect_ui(decided: Decided, browser):
    """The rejection's summary, with a robustness gate whose check names hold an @ (as fgsm@0.05 does): no mailto
    link, and no table wider than the page (Prefect's UI does not wrap table cells)."""
    from gates.outcome import PromotionOutcome
    from gates.report_format import summary_markdown
    from gates.result import GateResult, GateStatus, Measurement

    outcome = PromotionOutcome.model_validate(decided.rejected)
    robustness = GateResult(
        gate="robustness",
        status=GateStatus.FAILED,
        summary="1 robustness check(s) failed: gaussian_noise@0.05: flip rate 0.300 > 0.25.",
        measurements=(
            Measurement(
                name="fgsm@0.05", value=0.81, threshold=0.72, champion_value=0.82, difference=-0.01, passed=True
            ),
            Measurement(name="gaussian_noise@0.05", value=0.7, passed=False, note="flip rate 0.300 > 0.25"),
        ),
    )
    reasons = (*outcome.decision.reasons, f"robustness: {robustness.summary}")
    shown = outcome.model_copy(
        update={
            "gates": (*outcome.gates, robustness),
            "decision": outcome.decision.model_copy(update={"reasons": reasons}),
        }
    )
    markdown = summary_markdown(shown, dict(outcome.report_links))
    artifact = call(
        "POST", f"{decided.api}/artifacts/", {"key": "evidence-views-summary", "type": "markdown", "data": markdown}
    )
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{decided.ui}/artifacts/artifact/{artifact['id']}")
    page.get_by_text("Rules and notes").first.wait_for(timeout=60_000)
    mailto = page.eval_on_selector_all("a[href^='mailto:']", "els => els.map(e => e.href)")
    too_wide = page.eval_on_selector_all(
        ".markdown-renderer table", "els => els.filter(t => t.scrollWidth > t.parentElement.clientWidth).length"
    )
    headings = page.eval_on_selector_all(".markdown-renderer h2", "els => els.map(e => e.textContent.trim())")
    page.close()
    assert (mailto, too_wide) == ([], 0)
    assert headings == ["Why", "Gates", "evaluation: FAIL", "robustness: FAIL", "Evidence"]
