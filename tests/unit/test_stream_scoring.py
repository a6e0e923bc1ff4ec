"""A judge's pass over streamed Parquet: every row's scores in the .npy file it appends to, predict() as served on
the sample's rows only, and a model that fails mid-stream is an error reply."""

from __future__ import annotations

from pathlib import Path

import mlflow.sklearn
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression

from gates.model_input import InputColumn, InputSchema
from gates.policy import ModelOutputSpec
from tasks.judging_worker import ModelHost


def _host(tmp_path: Path, rows: int) -> tuple[ModelHost, LogisticRegression, pd.DataFrame, list[str]]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows)})
    y = (frame["a"] + 0.5 * frame["b"] + rng.normal(scale=0.5, size=rows) > 0).astype(int)
    model = LogisticRegression().fit(frame, y)
    mlflow.sklearn.save_model(model, tmp_path / "model", signature=infer_signature(frame, model.predict(frame)))
    files = []
    for i, part in enumerate((frame.iloc[: rows // 3], frame.iloc[rows // 3 :])):
        files.append(str(tmp_path / f"part-{i}.parquet"))
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), files[-1], row_group_size=97)
    work = tmp_path / "work"
    work.mkdir()
    schema = InputSchema(columns=(InputColumn("a", "double"), InputColumn("b", "double")))
    config = {
        "schema": schema.to_dict(),
        "model_output": ModelOutputSpec().model_dump(),
        "positive_label": 1,
        "task": "binary",
        "model_dir": str(tmp_path / "model"),
    }
    host = ModelHost(work, config)
    host.load()
    return host, model, frame, files


def test_every_rows_scores_are_appended_and_served_predictions_kept_on_the_sample(tmp_path: Path) -> None:
    rows = 1000
    host, model, frame, files = _host(tmp_path, rows)
    sample = np.array([0, 5, 332, 333, 334, 700, 999])
    np.save(host.work / "served_rows.npy", sample)
    request = {"files": files, "rows": rows, "columns": ["a", "b"], "batch_rows": 128, "served_rows": "served_rows.npy"}
    reply = host.score_stream(request)
    assert reply["source"].startswith("predict_proba()")
    scores = np.load(host.work / reply["scores"])
    np.testing.assert_allclose(scores, model.predict_proba(frame)[:, 1], rtol=0, atol=1e-12)
    served = np.load(host.work / reply["served_scores"])
    np.testing.assert_array_equal(served, model.predict(frame.iloc[sample]).astype(np.float64))


def test_rows_missing_from_the_files_are_an_error_reply(tmp_path: Path) -> None:
    host, _, _, files = _host(tmp_path, 300)
    np.save(host.work / "served_rows.npy", np.array([1, 2]))
    request = {"files": files, "rows": 301, "columns": ["a", "b"], "batch_rows": 100, "served_rows": "served_rows.npy"}
    reply = host.score_stream(request)
    assert reply["error"] == "read 300 of 301 eval rows"
    assert not (host.work / "scores.npy").exists()
