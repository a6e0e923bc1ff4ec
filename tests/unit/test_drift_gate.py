"""The drift gate on synthetic frames."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, roc_auc_score

from gates.policy import DriftGatePolicy
from gates.result import GateStatus
from tasks.drift_run import classification_report, detect_drift

RNG = np.random.default_rng(0)
REF = pd.DataFrame({"a": RNG.normal(size=3000), "b": RNG.normal(size=3000), "c": RNG.choice(["x", "y", "z"], 3000)})


def column_verdicts(html: str) -> dict[str, str]:
    """Each column's drift test state as evidently's report page shows it."""
    found = re.findall(r'"title": "Value Drift for column (\w+)", "description": "[^"]*", "state": "(\w+)"', html)
    return dict(found)


def quality_counters(html: str) -> list[dict[str, float]]:
    """The model-quality counters of a classification report (current first, then reference)."""
    blocks = re.findall(r'"counters": (\[[^\]]*"label": "Accuracy"[^\]]*\])', html)
    return [{c["label"]: float(c["value"]) for c in json.loads(block)} for block in blocks]


def test_same_distribution_has_no_drift():
    cur = REF.sample(frac=1.0, random_state=1)
    result = detect_drift(cur, REF, ["a", "b", "c"], DriftGatePolicy())
    assert result.status is GateStatus.PASSED and result.details["drifted"] == []


def test_shifted_column_is_named_and_share_judged(tmp_path):
    cur = REF.assign(a=REF.a + 3)
    warn = detect_drift(cur, REF, ["a", "b", "c"], DriftGatePolicy(max_drift_share=0.2), tmp_path / "d.html")
    assert warn.status is GateStatus.WARNED and warn.details["drifted"] == ["a"]
    assert warn.details["share"] == 1 / 3
    assert warn.report_files == (str(tmp_path / "d.html"),)
    html = (tmp_path / "d.html").read_text()
    assert column_verdicts(html) == {"a": "fail", "b": "success", "c": "success"}
    assert "Drift is detected for 33.333% of columns (1 out of 3)." in html
    assert ">Data drift: Current = the eval data; Reference = the training reference</div>" in html
    assert "Share of Drifted Columns: Actual value 0.333 >= 0.200" in html
    blocking = detect_drift(cur, REF, ["a", "b", "c"], DriftGatePolicy(max_drift_share=0.2, blocking=True))
    assert blocking.status is GateStatus.FAILED
    assert detect_drift(cur, REF, ["a", "b", "c"], DriftGatePolicy(max_drift_share=0.5)).status is GateStatus.PASSED


def test_missing_column_is_errored_not_raised():
    result = detect_drift(REF.drop(columns=["a"]), REF, ["a", "b"], DriftGatePolicy())
    assert result.status is GateStatus.ERRORED


def test_classification_report_html(tmp_path):
    y = RNG.integers(0, 2, 500)
    s = np.clip(0.4 * y + 0.6 * RNG.random(500), 0, 1)
    champion = s[::-1].copy()
    path = classification_report(y, s, 0.5, tmp_path / "c.html", champion)
    assert path == tmp_path / "c.html"
    expected = [
        {"Accuracy": round(accuracy_score(y, scores >= 0.5), 3), "ROC AUC": round(roc_auc_score(y, scores), 3)}
        for scores in (s, champion)  # the candidate is "current", the champion "reference"
    ]
    html = path.read_text()
    assert ">Classification quality of target: Current = candidate; Reference = champion</div>" in html
    shown = [{k: c[k] for k in ("Accuracy", "ROC AUC")} for c in quality_counters(html)]
    assert shown == expected
