"""The data validation gate: a GX suite from signature, reference and policy."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gates.data_validation import build_expectations, nullable_columns
from gates.policy import DataValidationGatePolicy, ValueRange
from gates.result import GateStatus
from gates.schema_check import ColumnSpec
from tasks.data_validation_run import check_expectation_types, validate

COLUMNS = [ColumnSpec("age", "long"), ColumnSpec("colour", "string")]
REFERENCE = pd.DataFrame({"age": [20, 30, 40, 60], "colour": ["red", "blue", "red", "green"], "y": [0, 1, 0, 1]})


def frame(**changes) -> pd.DataFrame:
    base = pd.DataFrame({"age": [25, 35, 45, 55] * 30, "colour": ["red", "blue"] * 60, "y": [0, 1] * 60})
    return base.assign(**changes)


def run(data: pd.DataFrame, policy: DataValidationGatePolicy | None = None, extra=(), reference=REFERENCE):
    policy = policy or DataValidationGatePolicy(min_rows=10)
    return validate(data, build_expectations(COLUMNS, "y", policy, reference, extra, eval_rows=len(data)), policy)


def test_clean_data_passes():
    result = run(frame())
    assert result.status is GateStatus.PASSED, result.summary


def test_learned_range_catches_bad_values_with_examples():
    result = run(frame(age=[25, -1, 45, 999] * 30))
    assert result.status is GateStatus.FAILED
    row = next(r for r in result.details["results"] if not r["success"])
    assert row["column"] == "age" and set(row["examples"]) <= {-1, 999} and row["examples"]
    assert "expect_column_values_to_be_between on 'age'" in result.summary


def test_unseen_category_and_nulls_fail():
    result = run(frame(colour=["red", "purple"] * 60))
    assert result.status is GateStatus.FAILED and "'colour'" in result.summary
    result = run(frame(age=[25.0, np.nan, 45.0, 55.0] * 30))
    failing = {r["expectation"] for r in result.details["results"] if not r["success"]}
    assert "expect_column_values_to_not_be_null" in failing


def test_allow_nulls_mostly_margin_and_overrides():
    policy = DataValidationGatePolicy(min_rows=10, allow_nulls=["age"], mostly=0.7, range_margin=0.5)
    assert run(frame(age=[25.0, np.nan, 70.0, 55.0] * 30), policy).status is GateStatus.PASSED
    strict = DataValidationGatePolicy(min_rows=10, value_ranges={"age": ValueRange(min=30)})
    assert run(frame(), strict).status is GateStatus.FAILED


def test_row_count_bounds():
    assert run(frame().head(5)).status is GateStatus.FAILED
    policy = DataValidationGatePolicy(min_rows=10, blocking=False)
    assert run(frame().head(5), policy).status is GateStatus.WARNED


def test_extra_expectations_and_unknown_types():
    extra = [{"type": "expect_column_values_to_match_regex", "kwargs": {"column": "colour", "regex": "^r"}}]
    assert run(frame(), extra=extra).status is GateStatus.FAILED
    assert check_expectation_types(extra + [{"type": "expect_moon_to_be_cheese", "kwargs": {}}]) == [
        "expect_moon_to_be_cheese"
    ]


def test_data_docs_are_written(tmp_path):
    policy = DataValidationGatePolicy(min_rows=10)
    result = validate(frame(), build_expectations(COLUMNS, "y", policy, REFERENCE), policy, tmp_path / "docs")
    assert result.report_files == (str(tmp_path / "docs" / "index.html"),)
    assert (tmp_path / "docs" / "index.html").is_file()


def test_observed_values_become_plain_python():
    import numpy as np

    from gates.data_validation import plain

    assert type(plain(np.float64(1.5))) is float and plain(np.int64(3)) == 3
    assert plain({"a": [np.float32(0.5), None]}) == {"a": [0.5, None]}


def test_learned_checks_allow_a_fresh_samples_rare_extremes_but_not_a_broken_column():
    """A few new extremes or an unseen rare category in a fresh sample pass (the allowance derived from the data's
    sizes); a column where 3% of rows hold a sentinel fails; ranges are widened by 10% of their width by default."""
    reference = pd.concat([REFERENCE] * 500, ignore_index=True)  # 2,000 rows
    big = pd.concat([frame()] * 20, ignore_index=True)  # 2,400 rows
    rare = big.copy()
    rare.loc[0:3, "age"] = 75  # beyond the reference's 60 + 10% margin (64)
    rare.loc[1, "colour"] = "purple"
    assert run(rare, reference=reference).status is GateStatus.PASSED
    assert run(big.assign(age=63), reference=reference).status is GateStatus.PASSED  # within the default margin
    broken = big.copy()
    broken.loc[: int(len(big) * 0.03), "age"] = -1
    result = run(broken, reference=reference)
    assert result.status is GateStatus.FAILED and "expect_column_values_to_be_between on 'age'" in result.summary
    strict = DataValidationGatePolicy(min_rows=10, learned_mostly=1.0)
    assert run(rare, strict, reference=reference).status is GateStatus.FAILED


def test_learned_allowance_follows_the_sizes_of_reference_and_eval_data():
    """1 minus the binomial quantile over eval rows: 2,000 reference values, 2,400 eval rows, two learned checks
    (range: p = 2/2001; categories, none seen once: p = 1/2001); a tiny reference stops at the 5% floor; a stated
    learned_mostly is taken as is."""
    from scipy.stats import binom

    reference = pd.concat([REFERENCE] * 500, ignore_index=True)
    policy = DataValidationGatePolicy(min_rows=10)
    suite = build_expectations(COLUMNS, "y", policy, reference, eval_rows=2400)
    mostly = {e["kwargs"]["column"]: e["kwargs"]["mostly"] for e in suite if "mostly" in e["kwargs"]}
    range_rows, set_rows = binom.ppf(1 - 0.0005, 2400, 2 / 2001), binom.ppf(1 - 0.0005, 2400, 1 / 2001)
    assert (range_rows, set_rows) == (9.0, 6.0)
    assert mostly == {"age": 0.99625, "colour": 0.9975}  # 1 - 9/2400, 1 - 6/2400
    tiny = build_expectations(COLUMNS, "y", policy, REFERENCE, eval_rows=2400)
    assert {
        e["kwargs"].get("mostly")
        for e in tiny
        if e["type"].startswith("expect_column_values_to_be_") and "type_list" not in e["kwargs"]
    } == {0.95}
    stated = build_expectations(COLUMNS, "y", DataValidationGatePolicy(learned_mostly=0.98), reference, eval_rows=50)
    assert {
        e["kwargs"].get("mostly")
        for e in stated
        if e["type"].startswith("expect_column_values_to_be_") and "type_list" not in e["kwargs"]
    } == {0.98}


def test_nulls_are_allowed_where_the_reference_holds_them_up_to_twice_its_share():
    reference = pd.concat([REFERENCE] * 25, ignore_index=True).astype({"age": "float64"})
    reference.loc[reference.index % 20 == 0, "age"] = np.nan  # 5% nulls in the reference
    policy = DataValidationGatePolicy(min_rows=10)
    suite = build_expectations(COLUMNS, "y", policy, reference)
    (not_null,) = [
        e for e in suite if e["type"] == "expect_column_values_to_not_be_null" and e["kwargs"]["column"] == "age"
    ]
    assert not_null["kwargs"]["mostly"] == 0.89  # 1 - (2 x 5% + 1%)
    data = pd.concat([frame()] * 10, ignore_index=True).astype({"age": "float64"})
    some = data.copy()
    some.loc[some.index % 10 == 0, "age"] = np.nan  # 10%
    assert validate(some, suite, policy).status is GateStatus.PASSED
    many = data.copy()
    many.loc[many.index % 4 == 0, "age"] = np.nan  # 25%
    assert validate(many, suite, policy).status is GateStatus.FAILED
    assert nullable_columns(["age", "colour"], policy, reference) == ["age"]
    assert nullable_columns(["age", "colour"], policy, None) == []


def test_a_fresh_split_of_a_small_real_data_set_passes_its_learned_checks():
    """scikit-learn's breast cancer data split 380 / 189 at random: several heavy-tailed columns reach past the
    reference's range in the eval rows (with a fixed 0.999 share, 6 checks failed and a sound model was
    rejected); the derived allowance passes them, and the same rows in other units still fail."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True).frame
    rows = np.random.default_rng(1).permutation(len(data))
    reference, fresh = data.iloc[rows[:380]], data.iloc[rows[380:]].reset_index(drop=True)
    columns = [ColumnSpec(c, "double") for c in data.columns if c != "target"]
    policy = DataValidationGatePolicy(min_rows=10)
    outside = [
        c.name for c in columns if not fresh[c.name].between(reference[c.name].min(), reference[c.name].max()).all()
    ]
    assert len(outside) >= 6
    suite = build_expectations(columns, "target", policy, reference, eval_rows=len(fresh))
    assert validate(fresh, suite, policy).status is GateStatus.PASSED
    rescaled = fresh.assign(**{"mean area": fresh["mean area"] * 100})  # in other units
    result = validate(rescaled, suite, policy)
    assert result.status is GateStatus.FAILED and result.summary.startswith("1 of ")
    assert "expect_column_values_to_be_between on 'mean area'" in result.summary
