"""tasks/ helpers against a real MLflow on SQLite in tmp_path (no Prefect): ledger, compare-and-set, tags,
reconcile, the evaluation-evidence store, lock names, signatures, retries and the judging environment."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from gates.errors import BadInputError
from gates.policy import parse_policy
from tasks import evidence_store, ledger, registry
from tasks.gate_runner import GateRun
from tasks.reconcile import reconcile

MODEL = "fast-model"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite registry with three versions of one model, made once (MLflow's schema set-up takes seconds)."""
    root = tmp_path_factory.mktemp("template")
    c = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    c.create_registered_model(MODEL)
    (root / "model-source").mkdir()
    for _ in range(3):
        c.create_model_version(MODEL, str(root / "model-source"))
    return root / "mlflow.db"


@pytest.fixture
def store(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    """A private copy of the template registry as the tracking URI."""
    import shutil

    shutil.copy(template, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MODELGATE_ARTIFACT_ROOT", (tmp_path / "artifacts").as_uri())
    monkeypatch.setenv("MODELGATE_HOME", str(tmp_path / "home"))
    mlflow.set_tracking_uri(uri)
    return MlflowClient(uri)


def policy(**extra):
    return parse_policy({"model_name": MODEL, "eval_data": {"path": "e.csv", "target": "y"}, **extra})


def champion(c: MlflowClient) -> str | None:
    found = registry.champion(c, MODEL, "champion")
    return found.version if found else None


def test_ledger_entry_counts_only_once_finished(store):
    run_id = ledger.open_entry("ledger", "attempt-1", {"model": MODEL, "version": "2", "decision": "promote"}, "x")
    assert ledger.open_entry("ledger", "attempt-1", {"model": MODEL}, "x") == run_id  # a re-sent creation
    [entry] = ledger.history(MODEL, "ledger")
    assert (entry.status, entry.state, entry.outcome, entry.counts) == ("RUNNING", "deciding", "", False)
    ledger.finalise(run_id, {"outcome": "promoted", "champion_after": "2"}, {"evaluation": "passed"})
    [entry] = ledger.decisions(MODEL, "ledger")
    assert (entry.status, entry.state, entry.outcome, entry.gates) == (
        "FINISHED",
        "final",
        "promoted",
        {"evaluation": "passed"},
    )
    failed = ledger.open_entry("ledger", "attempt-2", {"model": MODEL, "version": "3", "decision": "promote"}, "y")
    ledger.mark_failed(failed, "interrupted")
    assert [e.run_id for e in ledger.decisions(MODEL, "ledger")] == [run_id]
    assert [(e.status, e.state) for e in ledger.history(MODEL, "ledger")][-1] == ("FAILED", "failed")


def test_duplicate_runs_of_one_attempt_are_removed(store):
    exp = store.create_experiment("ledger")
    for _ in range(2):  # what a creation re-sent after a lost answer leaves behind
        store.create_run(exp, tags={"modelgate.attempt_id": "a", "modelgate.model": MODEL})
    kept = ledger.open_entry("ledger", "a", {"model": MODEL}, "x")
    assert [e.run_id for e in ledger.find_attempt("ledger", "a")] == [kept]


def test_rejection_reuse_needs_a_finished_entry(store):
    run_id = ledger.open_entry("ledger", "r", {"model": MODEL, "version": "2", "evaluation_key": "k"}, "x")
    assert ledger.decided_before(MODEL, "ledger", "k") is None
    ledger.finalise(run_id, {"outcome": "rejected"})
    assert ledger.decided_before(MODEL, "ledger", "k").run_id == run_id


def test_a_model_name_with_a_quote_has_its_ledger_history(store):
    name = "it's-a-model"
    store.create_registered_model(name)
    store.create_model_version(name, str(Path(store.tracking_uri.removeprefix("sqlite:///")).parent))
    p = parse_policy({"model_name": name, "eval_data": {"path": "e.csv", "target": "y"}})
    run_id = ledger.open_entry(p.ledger_experiment, "q", {"model": name, "version": "1", "decision": "promote"}, "q")
    assert [e.run_id for e in ledger.history(name, p.ledger_experiment)] == [run_id]
    store.set_registered_model_alias(name, "champion", "1")
    ledger.finalise(run_id, {"outcome": "promoted", "champion_after": "1"})
    assert [e.outcome for e in ledger.decisions(name, p.ledger_experiment)] == ["promoted"]
    assert ledger.history(MODEL, p.ledger_experiment) == []
    assert reconcile(p).lines() == ["registry and ledger agree"]
    with pytest.raises(BadInputError, match="both quote characters"):
        ledger.history("""say "it's" """, p.ledger_experiment)


def test_compare_and_set_moves_only_from_the_judged_champion(store):
    store.set_registered_model_alias(MODEL, "champion", "1")
    stale = registry.compare_and_set_champion(store, MODEL, "2", None, "champion", "previous-champion")
    assert (stale.moved, champion(store)) == (False, "1")
    moved = registry.compare_and_set_champion(store, MODEL, "2", "1", "champion", "previous-champion")
    assert (moved.moved, moved.champion_before, moved.champion_after) == (True, "1", "2")
    assert registry.champion(store, MODEL, "previous-champion").version == "1"


def test_version_tags_are_replaced_and_description_keeps_the_owners_text(store):
    ref = registry.resolve_version(store, MODEL, "2")
    store.update_model_version(MODEL, "2", description="Trained on March data.")
    registry.set_version_tags(store, ref, {"rolled_back_at": "t", "outcome": "rolled_back"})
    registry.replace_version_tags(store, ref, {"decision": "promote", "outcome": "promoted"})
    assert registry.version_tags_of(store, MODEL, "2") == {"decision": "promote", "outcome": "promoted"}
    registry.set_decision_line(store, ref, "promoted over v1")
    registry.set_decision_line(store, ref, "rejected: evaluation")
    description = store.get_model_version(MODEL, "2").description
    assert description == "**modelgate**: rejected: evaluation\n\nTrained on March data."
    assert registry.owner_description(description) == "Trained on March data."


def test_reconcile_finishes_a_promotion_whose_alias_moved_and_fails_one_whose_did_not(store):
    p = policy()
    moved = ledger.open_entry(p.ledger_experiment, "m", {"model": MODEL, "version": "2", "decision": "promote"}, "m")
    store.set_registered_model_alias(MODEL, "champion", "2")
    found = reconcile(p)
    assert found.finished == [f"v2 promoted (ledger run {moved})"] and found.external == []
    assert registry.version_tags_of(store, MODEL, "2")["outcome"] == "promoted"
    lost = ledger.open_entry(p.ledger_experiment, "l", {"model": MODEL, "version": "3", "decision": "promote"}, "l")
    found = reconcile(p)
    assert found.failed == [f"v3 promote (ledger run {lost})"] and champion(store) == "2"
    assert ledger.unfinished(MODEL, p.ledger_experiment) == []


@pytest.mark.parametrize(("mode", "after"), [("revert", "2"), ("flag", "3")])
def test_reconcile_records_a_champion_moved_outside_and_reverts_per_policy(store, mode, after):
    p = policy(on_external_change=mode)
    run_id = ledger.open_entry(p.ledger_experiment, "x", {"model": MODEL, "version": "2", "decision": "promote"}, "x")
    store.set_registered_model_alias(MODEL, "champion", "2")
    ledger.finalise(run_id, {"outcome": "promoted", "champion_after": "2"})
    store.set_registered_model_alias(MODEL, "champion", "3")  # someone, in the MLflow UI
    found = reconcile(p)
    assert len(found.external) == 1 and champion(store) == after
    last = ledger.decisions(MODEL, p.ledger_experiment)[-1]
    assert (last.outcome, last.prior_champion, last.champion_after) == ("external_change", "2", after)
    assert reconcile(p).lines() == ["registry and ledger agree"]


def test_evidence_store_round_trip_brings_report_files(store, tmp_path):
    from gates.result import GateResult, GateStatus

    report = tmp_path / "drift.html"
    report.write_text("<html>drift</html>")
    docs = tmp_path / "x" / "data-docs"
    docs.mkdir(parents=True)
    (docs / "index.html").write_text("<html>docs</html>")
    results = [
        GateResult(gate="drift", status=GateStatus.PASSED, summary="ok", report_files=(str(report),)),
        GateResult(
            gate="data_validation", status=GateStatus.PASSED, summary="ok", report_files=(str(docs / "index.html"),)
        ),
    ]
    assert evidence_store.fetch("key-1") is None
    evidence_store.store("key-1", MODEL, GateRun(results, []))
    os.environ["MODELGATE_HOME"] = str(tmp_path / "another-worker")
    fetched = evidence_store.fetch("key-1")
    assert [r.summary for r in fetched.results] == ["ok", "ok"]
    assert Path(fetched.results[0].report_files[0]).read_text() == "<html>drift</html>"
    assert Path(fetched.results[1].report_files[0]).read_text() == "<html>docs</html>"
    assert str(tmp_path / "another-worker") in fetched.results[0].report_files[0]


def test_lock_names_are_safe_and_distinct():
    from tasks.locks import lock_name

    assert lock_name("adult-income") == "modelgate-promote-adult-income"
    assert lock_name("a b") != lock_name("a/b") and lock_name("a b").startswith("modelgate-promote-a-b-")


def test_signature_becomes_the_input_schema():
    import numpy as np
    from mlflow.types import ColSpec, Schema, TensorSpec

    from gates.errors import BadInputError
    from tasks.model_copies import input_schema

    named = input_schema(Schema([ColSpec("float", "a"), ColSpec("long", "b", required=False)]), None)
    assert [(c.name, c.type, c.required) for c in named.columns] == [("a", "float", True), ("b", "long", False)]
    tensor = input_schema(Schema([TensorSpec(np.dtype("float32"), (-1, 2))]), ["a", "b"])
    assert (tensor.tensor.dtype, tensor.tensor.shape, tensor.names) == ("float32", (-1, 2), ["a", "b"])
    with pytest.raises(BadInputError, match="tensor_input_columns"):
        input_schema(Schema([TensorSpec(np.dtype("float32"), (-1, 2))]), None)


def test_a_version_without_signature_takes_the_eval_columns_as_they_are():
    import pandas as pd

    from gates.errors import BadInputError
    from gates.model_input import input_problems, prepare, schema_from_frame
    from tasks.model_copies import input_schema

    frame = pd.DataFrame({"n": [1, 2], "x": [0.5, 1.5], "f": pd.Series([1.0, 2.0], dtype="float32"), "s": ["a", "b"]})
    schema = schema_from_frame(frame, ["s", "x", "n", "f"])
    assert [(c.name, c.type) for c in schema.columns] == [
        ("s", "string"),
        ("x", "double"),
        ("n", "long"),
        ("f", "float"),
    ]
    assert not schema.signed and schema.describe().startswith("no signature logged; the eval data's columns as")
    assert input_schema(None, None, schema) is schema
    assert input_problems(frame, schema) == []
    pd.testing.assert_frame_equal(prepare(frame, schema), frame[["s", "x", "n", "f"]])
    with pytest.raises(BadInputError, match="^the model version has no signature; log it with an input signature$"):
        input_schema(None, None)


def test_judging_environment_has_no_credentials(tmp_path, monkeypatch):
    from tasks.judging import judging_env

    for key in (
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
        "MLFLOW_TRACKING_TOKEN",
        "AWS_SECRET_ACCESS_KEY",
        "DATABRICKS_TOKEN",
        "PREFECT_API_KEY",
        "PGPASSWORD",
        "MY_SERVICE_TOKEN",
    ):
        monkeypatch.setenv(key, "secret")
    env = judging_env(tmp_path)
    assert not [k for k, v in env.items() if v == "secret"]
    assert env["MLFLOW_TRACKING_URI"] == "modelgate-judging://no-access" and env["HOME"] == str(tmp_path)


def test_transient_failures_are_retried(monkeypatch):
    from tasks import retrying

    monkeypatch.setenv("MODELGATE_RETRY_SECONDS", "5")
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("connection refused")
        return "ok"

    assert retrying.retried(flaky) == "ok" and len(calls) == 3
    with pytest.raises(ValueError):
        retrying.retried(lambda: (_ for _ in ()).throw(ValueError("bad input is not retried")))


def test_an_unreachable_tracking_server_is_one_error_within_the_timeout(monkeypatch):
    import socket
    import time

    from tasks.retrying import TrackingUnavailable, check_reachable

    monkeypatch.setenv("MODELGATE_TRACKING_TIMEOUT_S", "1")
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        start = time.monotonic()
        with pytest.raises(TrackingUnavailable, match="did not answer within 1 s"):
            check_reachable(f"http://127.0.0.1:{silent.getsockname()[1]}")
        assert time.monotonic() - start < 5
