"""The provenance gate on models logged as users log them: a missing signature, a deleted source run, and
files changed between judging and the alias move (real MLflow on SQLite, the Prefect test harness)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gates.decision import Verdict
from gates.outcome import Outcome
from tests.integration.conftest import gate, promote
from tests.integration.models import log_sklearn_model

POLICY = """
model_name: {name}
eval_data: {{path: {path}, target: y}}
model_output: {{kind: label}}
gates:
  evaluation:
    metrics:
      accuracy: {{threshold: 0.6}}
  robustness: {{enabled: false}}
  latency: {{enabled: false}}
  integration: {{enabled: false}}
  provenance: {provenance}
"""


@pytest.fixture
def logged(registry, tmp_path):
    """(train rows, policy writer): three float columns, y from a and b; the eval half as Parquet."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1200, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("int64")
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": y})
    frame.iloc[:600].to_parquet(tmp_path / "eval.parquet")

    def policy(name: str, provenance: str = "{}") -> str:
        path = tmp_path / f"{name}.yaml"
        path.write_text(POLICY.format(name=name, path=tmp_path / "eval.parquet", provenance=provenance))
        return str(path)

    return frame.iloc[600:], policy


def test_a_version_without_a_signature(registry, logged):
    train, policy = logged
    version = log_sklearn_model("unsigned-lr", train, ["a", "b", "c"], "y", 1.0, signed=False)
    strict = promote(version, policy("unsigned-lr", "{signature: require}"), model="unsigned-lr", dry_run=True)
    assert strict.decision.verdict is Verdict.REJECT and strict.decision.failing_gates == ("provenance",)
    assert gate(strict, "provenance").summary == "1 required provenance item(s) missing: signature: no signature."
    assert registry.client().get_model_version("unsigned-lr", version).tags == {}  # a dry run stamps nothing
    # By default a missing signature, input example, parameters and training data are listed, not judged.
    outcome = promote(version, policy("unsigned-lr"), model="unsigned-lr")
    assert outcome.outcome is Outcome.PROMOTED, outcome.decision.reasons
    found = gate(outcome, "provenance")
    assert found.status.value == "passed" and found.details["missing_required"] == []
    assert [m.split(":")[0] for m in found.details["missing_reported"]] == [
        "parameters",
        "training data",
        "signature",
        "input example",
    ]
    tags = registry.client().get_model_version("unsigned-lr", version).tags
    assert tags["modelgate.files_sha256"] == found.details["facts"]["judged_digest"]


def test_a_version_logged_without_a_run_or_whose_run_is_still_open(registry, logged):
    """MLflow 3 logs a model outside any run; a training script registers before its run ends: both promote."""
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    train, policy = logged
    model = LogisticRegression().fit(train[["a", "b", "c"]], train["y"])
    info = mlflow.sklearn.log_model(model, name="model", registered_model_name="runless-lr")
    version = str(info.registered_model_version)
    assert registry.client().get_model_version("runless-lr", version).run_id is None
    outcome = promote(version, policy("runless-lr"), model="runless-lr")
    assert outcome.outcome is Outcome.PROMOTED, outcome.decision.reasons
    assert gate(outcome, "provenance").details["missing_reported"][0] == "source run: no source run"

    open_run = log_sklearn_model("open-lr", train, ["a", "b", "c"], "y", 1.0)
    c = registry.client()
    c.update_run(c.get_model_version("open-lr", open_run).run_id, status="RUNNING")
    still = promote(open_run, policy("open-lr"), model="open-lr")
    assert still.outcome is Outcome.PROMOTED, still.decision.reasons
    assert gate(still, "provenance").details["missing_reported"][0].endswith(": RUNNING")


def test_a_version_whose_source_run_was_deleted(registry, logged):
    train, policy = logged
    version = log_sklearn_model("orphan-lr", train, ["a", "b", "c"], "y", 1.0)
    c = registry.client()
    run_id = c.get_model_version("orphan-lr", version).run_id
    c.delete_run(run_id)
    outcome = promote(version, policy("orphan-lr"), model="orphan-lr")
    assert outcome.outcome is Outcome.REJECTED and outcome.decision.failing_gates == ("provenance",)
    assert gate(outcome, "provenance").details["missing_required"] == [f"source run: run {run_id}: deleted"]
    assert c.get_registered_model("orphan-lr").aliases == {}
    # The run restored: provenance passes now, so the rejection with the same evaluation key is not reused.
    c.restore_run(run_id)
    again = promote(version, policy("orphan-lr"), model="orphan-lr")
    assert again.outcome is Outcome.PROMOTED and not again.reused, again.decision.reasons


def test_files_changed_after_judging_and_before_the_alias_move(registry, logged, tmp_path, monkeypatch):
    train, policy = logged
    version = log_sklearn_model("swapped-lr", train, ["a", "b", "c"], "y", 1.0)
    c = registry.client()
    files = Path(c.get_model_version_download_uri("swapped-lr", version).removeprefix("file://"))
    pauses = tmp_path / "pauses"
    monkeypatch.setenv("MODELGATE_PAUSE_AT", "alias_move")
    monkeypatch.setenv("MODELGATE_PAUSE_DIR", str(pauses))
    outcomes: list = []
    worker = threading.Thread(
        target=lambda: outcomes.append(promote(version, policy("swapped-lr"), model="swapped-lr"))
    )
    worker.start()
    deadline = time.monotonic() + 300
    while not (pauses / "alias_move.reached").exists() and time.monotonic() < deadline and worker.is_alive():
        time.sleep(0.1)
    assert (pauses / "alias_move.reached").exists()
    with (files / "model.pkl").open("ab") as fh:  # the pickle still loads: bytes after its STOP are never read
        fh.write(b"swapped")
    (pauses / "alias_move.go").write_text("")
    worker.join(120)
    (outcome,) = outcomes
    assert outcome.outcome is Outcome.REJECTED and outcome.decision.failing_gates == ("provenance",)
    changed = gate(outcome, "provenance")
    assert changed.summary.startswith("The version's files changed after they were judged: sha256 ")
    assert c.get_registered_model("swapped-lr").aliases == {}
    logged_result = c.download_artifacts(outcome.ledger_run_id, "evidence/gates/provenance.json")
    assert "files changed after they were judged" in Path(logged_result).read_text()
    # Judged again, the files differ from the digest stamped at the first decision: rejected while judging.
    monkeypatch.delenv("MODELGATE_PAUSE_AT")
    again = promote(version, policy("swapped-lr"), model="swapped-lr", force=True, reason="re-judge")
    assert again.outcome is Outcome.REJECTED and again.decision.failing_gates == ("provenance",)
    (missing,) = gate(again, "provenance").details["missing_required"]
    assert missing.startswith("files unchanged: the files changed since modelgate first saw the version ")
