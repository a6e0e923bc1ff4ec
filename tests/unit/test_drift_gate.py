"""The drift gate on synthetic frames."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gates.policy import DriftGatePolicy
from gates.result import GateStatus
from tasks.drift_run import classification_report, detect_drift

RNG = np.random.default_rng(0)
REF = pd.DataFrame({"a": RNG.normal(size=3000), "b": RNG.normal(size=3000), "c": RNG.choice(["x", "y", "z"], 3000)})


def test_same_distribution_has_no_drift():
    cur = REF.sample(frac=1.0, random_state=1)
    result = detect_drift(cur, REF, ["a", "b", "c"], DriftGatePolicy())
    assert result.status is GateStatus.PASSED and result.details["drifted"] == []


def test_shifted_column_is_named_and_share_judged(tmp_path):
    cur = REF.assign(a=REF.a + 3)
    warn = detect_drift(cur, REF, ["a", "b", "c"], DriftGatePolicy(max_drift_share=0.2), tmp_path / "d.html")
    assert warn.status is GateStatus.WARNED and warn.details["drifted"] == ["a"]
    assert warn.details["share"] == 1 / 3 and (tmp_path / "d.html").is_file()
    blocking = detect_drift(cur, REF, ["a", "b", "c"], DriftGatePolicy(max_drift_share=0.2, blocking=True))
    assert blocking.status is GateStatus.FAILED
    assert detect_drift(cur, REF, ["a", "b", "c"], DriftGatePolicy(max_drift_share=0.5)).status is GateStatus.PASSED


def test_missing_column_is_errored_not_raised():
    result = detect_drift(REF.drop(columns=["a"]), REF, ["a", "b"], DriftGatePolicy())
    assert result.status is GateStatus.ERRORED


def test_classification_report_html(tmp_path):
    y = RNG.integers(0, 2, 500)
    s = np.clip(0.4 * y + 0.6 * RNG.random(500), 0, 1)
    path = classification_report(y, s, 0.5, tmp_path / "c.html", s[::-1].copy())
    assert path.stat().st_size > 10_000
