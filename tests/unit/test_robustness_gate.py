"""Judging robustness profiles, and the black-box perturbations."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gates.policy import RobustnessGatePolicy
from gates.result import GateStatus
from gates.robustness import RobustnessProfile, black_box, judge, noise_scales, perturbations

POLICY = RobustnessGatePolicy(
    min_robust_accuracy={0.1: 0.7}, max_drop=0.1, max_worse_than_champion=0.03, max_flip_rate=0.2
)


def prof(clean=0.85, fgsm=0.8, flip=0.05, note="") -> RobustnessProfile:
    return RobustnessProfile(
        clean_accuracy=clean,
        white_box={"fgsm": {"0.1": fgsm}} if fgsm is not None else {},
        white_box_note=note,
        black_box=[{"perturbation": "gaussian_noise", "level": 0.1, "accuracy": clean - 0.02, "flip_rate": flip}],
    )


def test_passes_when_every_check_holds():
    assert judge(prof(), prof(fgsm=0.81), POLICY).status is GateStatus.PASSED


def test_floor_drop_champion_and_flip_rate_each_fail():
    assert "below floor 0.7" in judge(prof(fgsm=0.69, clean=0.75), None, POLICY).summary
    assert "drop 0.150 > max_drop 0.1" in judge(prof(fgsm=0.70), None, POLICY).summary
    assert (
        "drop 0.070 is 0.040 more than the champion's 0.030" in judge(prof(fgsm=0.78), prof(fgsm=0.82), POLICY).summary
    )
    # merely less accurate (same drop as the champion's) is the evaluation gate's concern, not robustness'
    less_accurate = judge(prof(fgsm=0.70, clean=0.73), prof(fgsm=0.82, clean=0.85), POLICY)
    assert less_accurate.status.value == "passed"
    assert "flip rate 0.300 > 0.2" in judge(prof(flip=0.3), None, POLICY).summary
    non_blocking = POLICY.model_copy(update={"blocking": False})
    assert judge(prof(flip=0.3), None, non_blocking).status is GateStatus.WARNED


def test_black_box_only_says_why():
    result = judge(prof(fgsm=None, note="the model exposes no torch module"), None, POLICY)
    assert result.status is GateStatus.PASSED and "no torch module" in result.summary


def test_perturbations_and_flip_rates():
    frame = pd.DataFrame({"a": np.arange(100, dtype=float), "n": np.arange(100), "c": ["x", "y"] * 50})
    out = perturbations(frame, ["a", "n"], ["c"], {"a": 10.0, "n": 10.0}, {"c": ["x", "y", "z"]}, POLICY, ["a", "c"])
    names = [(n, lvl) for n, lvl, _ in out]
    assert names == [
        ("gaussian_noise", 0.1),
        ("gaussian_noise", 0.3),
        ("category_swap", 0.05),
        ("missing_values", 0.05),
    ]
    noisy = out[1][2]
    assert noisy["n"].dtype == frame["n"].dtype and not noisy["a"].equals(frame["a"])
    assert noisy["c"].equals(frame["c"])
    holed = out[3][2]
    assert holed["a"].isna().any() and holed["c"].isna().any() and not holed["n"].isna().any()
    # no column may hold nulls: no missing-values perturbation at all
    kinds = [n for n, _, _ in perturbations(frame, ["a"], ["c"], {"a": 10.0}, {"c": ["x", "y"]}, POLICY, [])]
    assert kinds == ["gaussian_noise", "gaussian_noise", "category_swap"]

    def predict(df: pd.DataFrame) -> np.ndarray:
        return (df["a"].fillna(0) > 49.5).to_numpy(float)

    y = (frame["a"] > 49.5).to_numpy(int)
    clean, rows = black_box(predict, frame, y, 0.5, out)
    assert clean == 1.0 and 0 < rows[0]["flip_rate"] and 0 < rows[1]["flip_rate"] < 0.5


def test_model_failing_on_perturbed_rows_is_a_failed_check():
    frame = pd.DataFrame({"a": np.arange(10, dtype=float)})

    def predict(df: pd.DataFrame) -> np.ndarray:
        if df["a"].isna().any():
            raise ValueError("NaN in input")
        return np.zeros(len(df))

    clean, rows = black_box(predict, frame, np.zeros(10, int), 0.5, [("missing_values", 0.5, frame.assign(a=np.nan))])
    result = judge(RobustnessProfile(clean_accuracy=clean, black_box=rows), None, POLICY)
    assert result.status is GateStatus.FAILED and "ValueError: NaN in input" in result.summary


def test_empty_or_negative_epsilons_are_rejected_by_the_policy():
    import pytest
    from pydantic import ValidationError

    for bad in ([], [-0.1], [0.0]):
        with pytest.raises(ValidationError):
            RobustnessGatePolicy(epsilons=bad)


def test_noise_is_in_robust_spread_and_spares_a_spike_at_one_value():
    """Amounts that are zero for most rows (the Adult data's capital gains) get no noise: a shift off the spike,
    in a model that logs amounts, is a different record; a heavy tail does not inflate the others' noise."""
    rng = np.random.default_rng(0)
    normal = rng.normal(40.0, 10.0, 20_000)
    tailed = np.concatenate([rng.normal(0.0, 1.0, 19_000), rng.normal(0.0, 1.0, 1_000) * 1_000])
    amounts = np.where(rng.random(20_000) < 0.9, 0.0, rng.exponential(5_000, 20_000))
    reference = pd.DataFrame({"age": normal, "tailed": tailed, "gain": amounts})
    scales = noise_scales(reference, ["age", "tailed", "gain", "absent"])
    assert set(scales) == {"age", "tailed", "gain"} and scales["gain"] == 0.0
    assert abs(scales["age"] - 10.0) < 0.3  # the std for normal data
    assert abs(scales["tailed"] - 1.0) < 0.1 < reference["tailed"].std() / 100  # the tail does not count

    frame = reference.iloc[:500].reset_index(drop=True)
    ((name, level, noisy),) = perturbations(frame, ["age", "tailed", "gain"], [], scales, {}, POLICY_ONE_LEVEL)
    assert (name, level) == ("gaussian_noise", 0.5)
    assert noisy["gain"].equals(frame["gain"]) and not noisy["age"].equals(frame["age"])
    assert abs((noisy["age"] - frame["age"]).std() - 5.0) < 0.5

    profile = RobustnessProfile(
        clean_accuracy=0.9,
        black_box=[{"perturbation": "gaussian_noise", "level": 0.5, "accuracy": 0.88, "flip_rate": 0.02}],
        noise_scales=scales,
    )
    (m,) = judge(profile, None, POLICY).measurements
    assert m.note == "flip rate 0.020; no noise on gain (IQR 0: one value for most rows)"


POLICY_ONE_LEVEL = RobustnessGatePolicy(noise_levels=[0.5], category_swap_rates=[], missing_rates=[])
