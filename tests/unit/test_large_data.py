"""Large eval sets: streamed reading, exact whole-data counts, collapsed bias rows, subsampled intervals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import sparse

from gates import bias, bias_rows, data_validation
from gates.bootstrap import resample_weights, resampled_sums
from gates.errors import BadInputError
from gates.evaluation import evaluate
from gates.policy import BiasGatePolicy, DataValidationGatePolicy, EvaluationGatePolicy, StreamingSpec
from gates.result import GateResult, GateStatus
from tasks.stream_data import check_schemas, read_streamed


def _frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 90, n).astype(float)
    age[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame(
        {
            "age": age,
            "sex": rng.choice(["F", "M"], n),
            "label": rng.integers(0, 2, n),
        }
    )


def test_one_pass_keeps_every_rows_columns_exact_nulls_and_the_seeded_sample(tmp_path: Path) -> None:
    frame = _frame(5000)
    files = []
    for i, part in enumerate((frame.iloc[:1800], frame.iloc[1800:])):
        files.append(str(tmp_path / f"p{i}.parquet"))
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), files[-1], row_group_size=700)
    found = read_streamed(tuple(files), ("label", "sex"), StreamingSpec(sample_rows=300, batch_rows=512, seed=3))
    assert found.rows == 5000
    assert found.nulls == {"age": int(frame["age"].isna().sum()), "sex": 0, "label": 0}
    assert found.columns["label"].tolist() == frame["label"].tolist()
    assert found.columns["label"].dtype == np.int8  # kept integers in the narrowest type that holds them
    assert found.columns["sex"].astype(str).tolist() == frame["sex"].tolist()
    expected = np.sort(np.random.default_rng(3).choice(5000, 300, replace=False))
    assert found.sample_index.tolist() == expected.tolist()
    pd.testing.assert_frame_equal(found.sample, frame.iloc[expected].reset_index(drop=True))


def test_kept_integers_narrow_only_as_far_as_their_range(tmp_path: Path) -> None:
    wide = np.array([0, 1, 70_000, -3] * 50, dtype=np.int64)
    table = pa.table({"small": np.arange(200) % 100, "wide": wide, "gaps": pa.array([1, None] * 100, pa.int64())})
    pq.write_table(table, tmp_path / "a.parquet")
    found = read_streamed((str(tmp_path / "a.parquet"),), ("small", "wide", "gaps"), StreamingSpec(batch_rows=100))
    assert (found.columns["small"].dtype, found.columns["wide"].dtype) == (np.int8, np.int32)
    assert found.columns["wide"].tolist() == wide.tolist()
    assert found.columns["gaps"].isna().sum() == 100  # a column with missing values is left as Arrow gives it


def test_multinomial_draws_of_collapsed_rows_are_the_row_bootstrap() -> None:
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 6, 4000)  # 6 distinct rows, repeated
    matrix = sparse.csr_array(np.eye(6)[codes] * np.arange(1, 7))
    distinct = sparse.csr_array(np.eye(6) * np.arange(1, 7))
    counts = np.bincount(codes, minlength=6)
    by_rows = np.concatenate([w @ matrix for w in resample_weights(4000, 4000, 1)])
    collapsed = resampled_sums(distinct, 4000, 1, counts)
    assert collapsed.shape == by_rows.shape == (4000, 6)
    np.testing.assert_allclose(collapsed.mean(axis=0), by_rows.mean(axis=0), rtol=0.01)
    np.testing.assert_allclose(collapsed.std(axis=0), by_rows.std(axis=0), rtol=0.06)


def test_collapsed_bias_rows_give_the_same_audit() -> None:
    frame = _frame(6000, seed=5)
    rng = np.random.default_rng(1)
    y = frame["label"].to_numpy()
    cand = (rng.random(6000) < 0.4 + 0.2 * (frame["sex"] == "M")).astype(int)
    champ = (rng.random(6000) < 0.45).astype(int)
    policy = BiasGatePolicy(sensitive_features=["sex"], min_group_size=50)
    whole = bias.audit_bias(frame[["sex"]], y, cand, champ, policy)
    cols, yc, cc, hc, weights = bias_rows.collapsed(frame[["sex"]], y, cand, champ)
    assert len(cols) == 16 and weights.sum() == 6000
    small = bias.audit_bias(cols, yc, cc, hc, policy, weights)
    rates = ("size", "selection_rate", "true_positive_rate", "false_positive_rate", "accuracy")
    for got, want in zip(small.details["features"][0]["groups"], whole.details["features"][0]["groups"], strict=True):
        assert {k: got[k] for k in rates} == pytest.approx({k: want[k] for k in rates})
    metric = "demographic_parity_difference"
    got_m, want_m = (r.details["features"][0]["metrics"][metric] for r in (small, whole))
    assert got_m["candidate"] == pytest.approx(want_m["candidate"])
    assert got_m["interval"] == pytest.approx(want_m["interval"], abs=0.01)  # another draw of the same bootstrap


def test_collapsing_codes_numbers_text_and_missing_values_as_a_groupby_would() -> None:
    """The counting pass finds the same distinct rows, in the same order, with the same counts, as pandas' groupby
    (sorted keys, missing values a group of their own, last)."""
    rng = np.random.default_rng(3)
    n = 5000
    age = rng.integers(20, 24, n).astype(float)
    age[rng.random(n) < 0.05] = np.nan
    text = np.where(rng.random(n) < 0.5, "x", "y").astype(object)
    text[rng.random(n) < 0.03] = None
    columns = pd.DataFrame(
        {"sex": pd.Categorical.from_codes(rng.integers(-1, 2, n), ["F", "M"]), "age": age, "text": text}
    )
    y, cand, champ = (rng.integers(0, 2, n) for _ in range(3))
    cols, yc, cc, hc, weights = bias_rows.collapsed(columns, y, cand, champ)
    keys = columns.assign(y=y, candidate=cand, champion=champ)
    want = keys.groupby(list(keys.columns), observed=True, dropna=False, sort=True).size()
    found = want.index.to_frame(index=False)
    pd.testing.assert_frame_equal(cols, found[["sex", "age", "text"]])
    assert cols["age"].dtype == np.float64 and isinstance(cols["sex"].dtype, pd.CategoricalDtype)
    for got, name in ((yc, "y"), (cc, "candidate"), (hc, "champion")):
        np.testing.assert_array_equal(got, found[name].to_numpy())
    np.testing.assert_array_equal(weights, want.to_numpy(dtype=np.float64))
    _, _, _, none, _ = bias_rows.collapsed(columns, y, cand, None)
    assert none is None
    _, yb, _, _, counts = bias_rows.collapsed(columns[["sex"]], y.astype(bool), cand, champ)  # a boolean target
    assert yb.dtype == bool and counts.sum() == n


def test_collapsing_chunk_by_chunk_with_narrow_codes_gives_the_same_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Integer keys are coded a chunk at a time (a chunk smaller than the rows here); predictions as one byte a row
    (as the gate passes them) collapse as 8-byte ones do."""
    rng = np.random.default_rng(5)
    n = 3000
    columns = pd.DataFrame({"grade": rng.integers(-2, 400, n), "sex": rng.choice(["F", "M"], n)})
    y = rng.integers(0, 2, n).astype(np.int8)
    cand, champ = (rng.random(n) >= 0.5 for _ in range(2))
    whole = bias_rows.collapsed(columns, y.astype(np.int64), cand.astype(int), champ.astype(int))
    monkeypatch.setattr(bias_rows, "CHUNK", 97)
    chunked = bias_rows.collapsed(columns, y, cand.view(np.int8), champ.view(np.int8))
    pd.testing.assert_frame_equal(chunked[0], whole[0])
    for got, want in zip(chunked[1:], whole[1:], strict=True):
        np.testing.assert_array_equal(got, want)
    assert bias_rows._codes(columns["grade"])[0].dtype == np.int16  # 402 distinct values


def test_intervals_from_a_subsample_are_centred_on_the_whole_data_difference() -> None:
    rng = np.random.default_rng(2)
    n = 30_000
    y = rng.integers(0, 2, n)
    cand = np.clip(0.3 * y + 0.7 * rng.random(n), 0, 1)
    champ = np.clip(0.2 * y + 0.8 * rng.random(n), 0, 1)
    rules = {"roc_auc": {"min_absolute_change": 0.001}, "accuracy": {"max_regression": 0.01}}
    whole = evaluate(y, cand, champ, EvaluationGatePolicy.model_validate({"metrics": rules}))
    capped = evaluate(
        y, cand, champ, EvaluationGatePolicy.model_validate({"metrics": rules, "bootstrap": {"max_rows": 5000}})
    )
    for metric in rules:
        got, want = capped.details["metrics"][metric], whole.details["metrics"][metric]
        assert got["candidate"] == want["candidate"] and got["champion"] == want["champion"]
        assert got["difference"] == pytest.approx(want["difference"], abs=1e-12)
        assert got["interval_low"] < got["difference"] < got["interval_high"]
        assert got["interval_high"] - got["interval_low"] > want["interval_high"] - want["interval_low"]
    assert capped.details["interval_rows"] == 5000 and whole.details["interval_rows"] == n
    assert "intervals from a seeded subsample of 5,000 rows" in capped.summary


def test_row_count_and_nulls_are_judged_on_the_whole_data() -> None:
    policy = DataValidationGatePolicy(min_rows=100, max_rows=1_000_000)
    suite = [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 100, "max_value": 1_000_000}},
        {"type": "expect_column_to_exist", "kwargs": {"column": "age"}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "age", "mostly": 0.95}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "sex"}},
    ]
    sampled, exact = data_validation.split_exact(suite)
    assert [e["kwargs"].get("column") for e in sampled] == ["age"] and len(exact) == 3
    rows = data_validation.exact_rows(exact, 2_000_000, {"age": 120_000, "sex": 0})
    assert [r["success"] for r in rows] == [False, False, True]  # too many rows; 6 % nulls in age
    assert rows[1]["unexpected_count"] == 120_000 and rows[1]["unexpected_percent"] == pytest.approx(6.0)
    on_sample = GateResult(
        gate="data_validation",
        status=GateStatus.PASSED,
        blocking=True,
        summary="All 1 expectations met on 1000 rows.",
        details={"statistics": {"evaluated_expectations": 1}, "results": [], "rows": 1000},
    )
    joined = data_validation.with_exact_counts(on_sample, rows, 2_000_000, 1000, policy)
    assert joined.status is GateStatus.FAILED
    assert joined.summary.startswith("2 of 4 expectations failed: expect_table_row_count_to_be_between")
    assert joined.summary.endswith(
        "(row count and null counts over all 2,000,000 rows; the other expectations on a seeded sample of 1,000 rows)"
    )


def test_boolean_targets_nan_floats_and_schemas_that_differ_only_in_nullability(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [0.5, np.nan, 1.5, None] * 50, "flag": [True, False, False, True] * 50})
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, tmp_path / "a.parquet")
    nullable = pa.schema([pa.field("x", pa.float64(), nullable=False), pa.field("flag", pa.bool_())])
    nan = np.array([np.nan, 1.0, 2.0, 3.0] * 50)  # NaN values, not nulls: what numpy-born writers store
    pq.write_table(pa.table({"x": pa.array(nan), "flag": frame["flag"]}, schema=nullable), tmp_path / "b.parquet")
    files = (str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet"))
    assert check_schemas([Path(f) for f in files], tmp_path).names == ["x", "flag"]
    found = read_streamed(files, ("flag",), StreamingSpec(sample_rows=100, batch_rows=128))
    assert found.nulls == {"x": 150, "flag": 0}  # nulls in a, NaN in b: missing alike, as pandas counts them
    assert found.columns["flag"].dtype == bool and int(found.columns["flag"].sum()) == 200


def test_a_folder_of_empty_files_is_bad_input(tmp_path: Path) -> None:
    empty = pa.table({"x": pa.array([], pa.float64())})
    pq.write_table(empty, tmp_path / "a.parquet")
    with pytest.raises(BadInputError, match=f"^eval data {tmp_path / 'a.parquet'} has no rows$"):
        read_streamed((str(tmp_path / "a.parquet"),), (), StreamingSpec())


@pytest.mark.parametrize("widths", [(127,), (200, 300), (70_000,)])
def test_collapsing_keys_wider_than_a_byte_counts_as_a_groupby_would(
    monkeypatch: pytest.MonkeyPatch, widths: tuple[int, ...]
) -> None:
    """The combined key widens as the combinations grow (one, two and four bytes), counted chunk by chunk where the
    combinations are few, in one pass where they are many."""
    monkeypatch.setattr(bias_rows, "CHUNK", 1000)
    rng = np.random.default_rng(5)
    n = 4000
    columns = pd.DataFrame({f"f{i}": rng.integers(0, w, n) for i, w in enumerate(widths)})
    y, cand, champ = (rng.integers(0, 2, n).astype(np.int8) for _ in range(3))
    cols, yc, cc, hc, weights = bias_rows.collapsed(columns, y, cand, champ)
    keys = columns.assign(y=y, candidate=cand, champion=champ)
    want = keys.groupby(list(keys.columns), sort=True).size()
    found = want.index.to_frame(index=False)
    for name in columns.columns:
        np.testing.assert_array_equal(cols[name].to_numpy(), found[name].to_numpy())
    for got, name in ((yc, "y"), (cc, "candidate"), (hc, "champion")):
        np.testing.assert_array_equal(got, found[name].to_numpy())
    np.testing.assert_array_equal(weights, want.to_numpy(dtype=np.float64))
