"""Streamed eval data: 200k rows of the demo's columns as a folder of Parquet files, judged batch by batch, with
the same point estimates as the in-memory path on the same rows; and the large-data bad inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from tests.conftest import ROOT
from tests.integration.conftest import BASELINE, FULL, MODEL, Registry, gate, promote, write_demo_policy

ROWS = 200_000
GATES = ("data_validation", "drift", "output_check", "evaluation", "bias")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def large_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a folder of two Parquet files, one Parquet file): the same 200k rows, resampled from the demo's eval split."""
    root = tmp_path_factory.mktemp("large-eval")
    base = pd.read_csv(ROOT / "data" / "uci-adult" / "adult_eval.csv.gz")
    rows = base.iloc[np.random.default_rng(7).integers(0, len(base), ROWS)].reset_index(drop=True)
    table = pa.Table.from_pandas(rows, preserve_index=False)
    folder = root / "eval-set"
    folder.mkdir()
    pq.write_table(table.slice(0, ROWS // 2), folder / "part-0.parquet", row_group_size=40_000)
    pq.write_table(table.slice(ROWS // 2), folder / "part-1.parquet", row_group_size=40_000)
    single = root / "eval.parquet"
    pq.write_table(table, single)
    return folder, single


def policy_for(tmp_path: Path, name: str, data: Path, **eval_data: object) -> str:
    """The demo policy on `data`, judged by the data gates, the output check, evaluation and bias."""
    path = Path(write_demo_policy(tmp_path / f"{name}.yaml", slo_ms=10.0))
    policy = yaml.safe_load(path.read_text())
    policy["eval_data"].update(path=str(data), **eval_data)
    for name_, section in policy["gates"].items():
        if isinstance(section, dict) and name_ not in GATES:
            section["enabled"] = False
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    return str(path)


def values(outcome, name: str) -> dict:
    """A gate's point estimates: evaluation's per-metric values, bias's per-group rates."""
    details = gate(outcome, name).details
    if name == "evaluation":
        return {m: (d["candidate"], d.get("champion")) for m, d in details["metrics"].items()}
    rates = ("selection_rate", "true_positive_rate", "false_positive_rate", "accuracy")
    return {
        (f["feature"], g["group"], k): g[k]
        for f in details["features"]
        for g in f["groups"]
        for k in ("size", *rates, *(f"champion_{r}" for r in rates))
    }


def test_a_streamed_folder_gives_the_in_memory_point_estimates(
    registry: Registry, tmp_path: Path, large_data: tuple[Path, Path]
) -> None:
    folder, single = large_data
    registry.client().set_registered_model_alias(MODEL, "champion", BASELINE)
    before = registry.snapshot()
    streamed_policy = policy_for(tmp_path, "streamed", folder, streaming={"sample_rows": 20_000, "batch_rows": 30_000})
    text = yaml.safe_load(Path(streamed_policy).read_text())
    for section in ("evaluation", "bias"):  # intervals from 50k rows (evaluation) and collapsed rows (bias)
        text["gates"][section]["bootstrap"]["max_rows"] = 50_000
    Path(streamed_policy).write_text(yaml.safe_dump(text, sort_keys=False))
    streamed = promote(FULL, streamed_policy, dry_run=True)
    in_memory = promote(FULL, policy_for(tmp_path, "in-memory", single), dry_run=True)

    for name in ("evaluation", "bias"):
        got, want = values(streamed, name), values(in_memory, name)
        assert got.keys() == want.keys()
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), (name, key)
    evaluation = gate(streamed, "evaluation")
    assert evaluation.details["rows"] == ROWS and evaluation.details["interval_rows"] == 50_000
    assert "intervals from a seeded subsample of 50,000 rows" in evaluation.summary
    assert gate(in_memory, "evaluation").details["interval_rows"] == ROWS
    validation = gate(streamed, "data_validation")
    assert validation.details["rows"] == ROWS and validation.details["sampled_rows"] == 20_000
    assert "row count and null counts over all 200,000 rows" in validation.summary
    assert gate(streamed, "drift").details["note"] == "eval data: a seeded sample of 20,000 of its 200,000 rows"
    assert [g.status.value for g in streamed.gates] == [g.status.value for g in in_memory.gates]
    assert registry.snapshot() == before  # dry runs


def _cli(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    from modelgate.cli import main

    capsys.readouterr()
    code = main(args)
    return code, capsys.readouterr().err.strip()


def test_large_data_bad_inputs_exit_2_and_change_nothing(
    registry: Registry, tmp_path: Path, large_data: tuple[Path, Path], capsys: pytest.CaptureFixture
) -> None:
    folder, single = large_data
    before = registry.snapshot()
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "a.parquet").write_bytes((folder / "part-0.parquet").read_bytes())
    frame = pq.read_table(folder / "part-1.parquet").to_pandas().head(1000)
    pq.write_table(pa.Table.from_pandas(frame.astype({"age": "float64"}), preserve_index=False), mixed / "b.parquet")
    cases = [
        (
            policy_for(tmp_path, "mixed", mixed),
            f"error: eval data {mixed}: b.parquet does not have the schema of a.parquet: age is double, not int64",
        ),
        (
            policy_for(tmp_path, "guarded", single, max_eval_rows=150_000),
            f"error: eval data {single} has 200,000 rows, more than the policy's eval_data.max_eval_rows (150,000); "
            "raise the guard or point the policy at the right data",
        ),
        (
            policy_for(tmp_path, "empty", tmp_path / "no-files"),
            f"error: eval data folder {tmp_path / 'no-files'} holds no Parquet files (*.parquet, *.pq)",
        ),
    ]
    (tmp_path / "no-files").mkdir()
    for policy, error in cases:
        code, err = _cli(["promote", "--model", MODEL, "--version", FULL, "--policy", policy], capsys)
        assert (code, err) == (2, error)
    assert registry.snapshot() == before


def test_the_samples_scores_come_first_and_equal_every_rows_scores_on_its_rows(
    registry: Registry, tmp_path: Path, large_data: tuple[Path, Path]
) -> None:
    from tasks.inputs import load
    from tasks.judging_run import JudgingRun

    registry.client().set_registered_model_alias(MODEL, "champion", BASELINE)
    policy = policy_for(tmp_path, "first", large_data[0], streaming={"sample_rows": 5_000, "batch_rows": 30_000})
    inputs = load(policy, MODEL, FULL)
    run = JudgingRun(inputs, tmp_path / "evidence")
    try:
        run.start_scoring(timeout=300)
        sample = run.sample_scores(timeout=300)
        every = run.score_all(timeout=300)
        rows = inputs.data.full.sample_index
        assert rows.size == 5_000 and sorted(sample) == ["candidate", "champion"]
        for label in ("candidate", "champion"):
            assert every[label].values.shape == (ROWS,)
            np.testing.assert_array_equal(sample[label].values, every[label].values[rows])
            np.testing.assert_array_equal(sample[label].served, every[label].served)
            assert sample[label].source == every[label].source
    finally:
        run.close()
        inputs.cleanup()
