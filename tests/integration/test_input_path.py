"""One input path: the flow's scoring, the clean-process probe and the scoring server hand predict() the same
rows with the same dtypes, and predict() never sees the eval file's own 64-bit columns."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.models import infer_signature

from flows.promote import promote
from gates.outcome import Outcome

MODEL = "input-recorder"


class InputRecorder(mlflow.pyfunc.PythonModel):
    """Scores from column a; every call's input is saved as Parquet in the folder named in its model config."""

    def load_context(self, context):
        self.folder = Path(context.model_config["record_dir"])

    def predict(self, context, model_input: pd.DataFrame, params=None):
        import os
        import time

        name = f"{os.getpid()}-{time.monotonic_ns()}.parquet"
        model_input.to_parquet(self.folder / name)
        return 1 / (1 + np.exp(-model_input["a"].to_numpy(dtype=np.float64)))


@pytest.fixture
def recorded(prefect_harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MODELGATE_ARTIFACT_ROOT", (tmp_path / "artifacts").as_uri())
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("input-recorder")  # not the experiment an earlier test left active in another store
    rng = np.random.default_rng(3)
    n = 400
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "k": rng.integers(0, 9, n)})
    frame["y"] = (frame["a"] + rng.normal(scale=0.7, size=n) > 0).astype(int)
    frame.to_csv(tmp_path / "eval.csv", index=False)  # read back as float64 and int64
    example = frame[["a", "b", "k"]].astype({"a": "float32", "b": "float32", "k": "int32"}).head(5)
    folder = tmp_path / "inputs"
    folder.mkdir()
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=InputRecorder(),
            signature=infer_signature(example, np.zeros(5)),
            input_example=example,
            model_config={"record_dir": str(folder)},
            pip_requirements=["pandas", "pyarrow"],
            registered_model_name=MODEL,
        )
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"model_name: {MODEL}\n"
        f"eval_data: {{path: {tmp_path / 'eval.csv'}, target: y}}\n"
        "gates:\n"
        "  evaluation: {metrics: {roc_auc: {threshold: 0.6}}}\n"
        "  robustness: {enabled: false}\n"
        "  latency: {enabled: false}\n"
        "  integration: {sample_rows: 60, single_rows: 2}\n"
    )
    return str(info.registered_model_version), str(policy), folder, frame


@pytest.mark.slow  # a clean-process probe and a real scoring server: the full suite runs it
def test_flow_probe_and_server_hand_predict_identical_inputs(recorded):
    version, policy, folder, frame = recorded
    outcome = promote(model=MODEL, version=version, policy_path=policy)
    assert outcome.outcome is Outcome.PROMOTED, outcome.decision.reasons
    calls = [pd.read_parquet(p) for p in sorted(folder.glob("*.parquet"), key=lambda p: p.stat().st_mtime)]
    by_size: dict[int, list[pd.DataFrame]] = {}
    for call in calls:
        by_size.setdefault(len(call), []).append(call)
    # the flow scored every row once; the probe predicted its 60-row sample; the server got 50 of those rows
    flow_call = by_size[len(frame)][0]
    probe_call, server_call = by_size[60][0], by_size[50][0]
    dtypes = {"a": "float32", "b": "float32", "k": "int32"}
    for call in (flow_call, probe_call, server_call):
        assert {c: str(t) for c, t in call.dtypes.items()} == dtypes
    idx = np.sort(np.random.default_rng(0).choice(len(frame), 60, replace=False))  # the integration gate's sample
    pd.testing.assert_frame_equal(probe_call, flow_call.iloc[idx].reset_index(drop=True))
    pd.testing.assert_frame_equal(server_call, probe_call.head(50))
    integration = next(g for g in outcome.gates if g.gate == "integration")
    assert integration.status.value == "passed"
    assert any("clients calling the model in Python must cast" in n for n in integration.details["notes"])
