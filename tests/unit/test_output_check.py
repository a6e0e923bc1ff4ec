"""The output check on hand-made scores: one exact outcome per finding, and a sound model that passes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError

from gates.output_check import OutputCheckGatePolicy, check_outputs
from gates.result import GateStatus

Y = (np.arange(1000) % 4 == 0).astype(int)  # base rate 25%
SOUND = np.empty(1000)
SOUND[Y == 1] = np.linspace(0.301, 0.999, 250)  # 179 of the 250 positives at or above 0.5
SOUND[Y == 0] = np.linspace(0.002, 0.6, 750)  # 126 of the 750 negatives at or above 0.5


def check(scores, champion=None, y=Y, threshold=0.5, **policy):
    return check_outputs(scores, champion, y, threshold, OutputCheckGatePolicy(**policy), candidate_label="v3")


def by_name(result) -> dict:
    return {m.name: m for m in result.measurements}


def test_a_sound_model_passes_with_every_check_measured():
    result = check(SOUND, champion=SOUND[::-1].copy())
    assert result.status is GateStatus.PASSED
    assert result.summary == (
        "v3's outputs look sound: 1,000 finite scores, 1,000 distinct, 30.5% predicted positive "
        "at threshold 0.5 (base rate 25.0%)."
    )
    m = by_name(result)
    assert list(m) == [
        "non-finite scores",
        "distinct scores",
        "rows predicted positive",
        "rows predicted negative",
        "positive rate vs base rate (x)",
    ]
    assert [x.passed for x in m.values()] == [True, True, True, True, None]  # the rate band is off by default
    assert m["rows predicted positive"].value == 305
    assert m["rows predicted positive"].champion_value == 305  # the same scores, reversed
    assert m["non-finite scores"].threshold == 0 and m["distinct scores"].threshold == 2
    assert result.details["findings"] == []
    json.dumps(result.model_dump(mode="json"), allow_nan=False)


def test_never_predicting_the_positive_class_fails():
    scores = np.linspace(0.0, 0.4, 16_281)
    y = (np.arange(16_281) % 3 == 0).astype(int)
    result = check(scores, y=y)
    assert result.status is GateStatus.FAILED
    assert (
        result.summary == "v3 never predicts the positive class at threshold 0.5 (0 of 16,281 rows predicted positive)."
    )
    assert [f["check"] for f in result.details["findings"]] == ["single_class"]
    assert by_name(result)["rows predicted positive"].passed is False
    assert by_name(result)["rows predicted negative"].passed is True


def test_never_predicting_the_negative_class_fails():
    result = check(np.linspace(0.5, 1.0, 1000))
    assert result.status is GateStatus.FAILED
    assert result.summary == (
        "v3 never predicts the negative class at threshold 0.5 (0 of 1,000 rows predicted negative)."
    )


def test_constant_scores_fail_and_say_which_class_is_missing():
    result = check(np.full(1000, 0.3))
    assert result.status is GateStatus.FAILED
    assert result.summary == (
        "v3 gives all 1,000 rows the same score (0.3); "
        "v3 never predicts the positive class at threshold 0.5 (0 of 1,000 rows predicted positive)."
    )
    assert [f["check"] for f in result.details["findings"]] == ["constant_scores", "single_class"]
    assert by_name(result)["distinct scores"].value == 1


def test_nan_and_infinite_scores_fail_and_are_counted():
    scores = SOUND.copy()
    scores[:3] = np.nan
    scores[3] = np.inf
    result = check(scores)
    assert result.status is GateStatus.FAILED
    assert result.summary == "v3 returns a NaN or infinite score for 4 of 1,000 rows (3 NaN, 1 infinite)."
    assert by_name(result)["non-finite scores"].value == 4
    assert result.details["candidate"]["nan"] == 3 and result.details["candidate"]["inf"] == 1


def test_all_nan_scores_fail_and_the_other_checks_are_not_judged():
    result = check(np.full(1000, np.nan))
    assert result.status is GateStatus.FAILED
    assert result.summary == "v3 returns a NaN or infinite score for 1,000 of 1,000 rows (1,000 NaN, 0 infinite)."
    assert [m.passed for m in result.measurements] == [False, None, None, None, None]


def test_a_finding_meant_as_warning_warns():
    result = check(np.linspace(0.0, 0.4, 1000), single_class="warn")
    assert result.status is GateStatus.WARNED and result.blocking is True
    assert result.details["findings"][0]["meaning"] == "warn"


def test_a_failure_of_a_non_blocking_gate_is_a_warning():
    result = check(np.full(1000, 0.3), blocking=False)
    assert result.status is GateStatus.WARNED and result.blocking is False


def test_positive_rate_far_from_the_base_rate_is_flagged_only_when_asked():
    scores = np.where(np.arange(1000) % 50 == 0, 0.9, 0.1)  # 2% predicted positive, base rate 25%
    assert check(scores).status is GateStatus.PASSED
    warned = check(scores, max_positive_rate_ratio=3)
    assert warned.status is GateStatus.WARNED
    assert warned.summary == (
        "v3 predicts positive for 2.0% of rows against a base rate of 25.0% (12.5x lower; at most 3x allowed)."
    )
    m = by_name(warned)["positive rate vs base rate (x)"]
    assert (m.value, m.threshold, m.passed) == (12.5, 3.0, False)
    assert check(scores, max_positive_rate_ratio=3, positive_rate="fail").status is GateStatus.FAILED
    assert check(scores, max_positive_rate_ratio=20).status is GateStatus.PASSED


def test_positive_rate_is_not_judged_without_labels():
    result = check(SOUND, y=None, max_positive_rate_ratio=3)
    assert result.status is GateStatus.PASSED
    assert by_name(result)["positive rate vs base rate (x)"].passed is None
    assert result.details["base_rate"] is None


def test_a_degenerate_champion_is_shown_but_does_not_change_the_verdict():
    result = check(SOUND, champion=np.full(1000, 0.2))
    assert result.status is GateStatus.PASSED
    assert by_name(result)["distinct scores"].champion_value == 1
    assert result.details["champion"]["predicted_positive"] == 0


def test_unscored_candidate_is_skipped_with_the_reason():
    result = check(None)
    assert result.status is GateStatus.SKIPPED
    assert result.summary == "v3 could not be scored, so its outputs were not checked"


def test_disabled_gate_is_skipped():
    assert check(SOUND, enabled=False).status is GateStatus.SKIPPED


def test_scores_that_do_not_match_the_labels_are_errored():
    result = check(SOUND[:10])
    assert result.status is GateStatus.ERRORED
    assert "labels have shape (1000,) for 10 scores" in result.summary


@pytest.mark.parametrize(
    "bad",
    [{"max_positive_rate_ratio": 1}, {"single_class": "ignore"}, {"unknown": True}],
)
def test_policy_rejects_bad_values(bad):
    with pytest.raises(ValidationError):
        OutputCheckGatePolicy(**bad)


def test_rare_positives_under_the_threshold_warn_when_the_scores_still_rank():
    """A sound model of rare positives (1%) whose probabilities never reach 0.5 is not degenerate: its scores rank
    the classes, so a class never predicted is a warning about the threshold."""
    y = (np.arange(5000) % 100 == 0).astype(int)
    scores = np.where(y == 1, 0.30, 0.02) + np.linspace(0, 0.01, 5000)
    result = check(scores, y=y)
    assert result.status is GateStatus.WARNED
    assert result.summary == (
        "v3 never predicts the positive class at threshold 0.5 (0 of 5,000 rows predicted positive), but its "
        "scores rank the classes (ROC AUC 1.000): the threshold may not suit this data."
    )
    assert result.details["findings"] == [
        {"check": "single_class", "meaning": "warn", "message": result.summary.removesuffix(".")}
    ]
