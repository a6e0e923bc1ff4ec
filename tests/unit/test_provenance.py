"""The provenance gate's judgement: required items fail it, warned ones make it warn, reported ones are listed,
off ones are not checked."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gates.errors import PolicyError
from gates.policy import ProvenanceGatePolicy, parse_policy
from gates.provenance import ProvenanceFacts, files_changed, judge_provenance
from gates.result import GateStatus

FULL = ProvenanceFacts(
    run_id="r1",
    run_state="FINISHED",
    parameters=3,
    datasets=("adult-train (4f2a)",),
    data_tags=(),
    signature=True,
    input_example=True,
    author="alice",
    created_at="2026-12-07T10:00:00+00:00",
    judged_digest="a" * 64,
    stamped_digest="a" * 64,
    stamped_at="2026-12-01T09:00:00+00:00",
)


def test_everything_recorded_passes_and_says_what_was_found():
    result = judge_provenance(FULL, ProvenanceGatePolicy())
    assert result.status is GateStatus.PASSED
    notes = {m.name: m.note for m in result.measurements}
    assert notes == {
        "source_run": "run r1: FINISHED",
        "parameters": "3 parameter(s) logged",
        "training_data": "adult-train (4f2a)",
        "signature": "signature logged",
        "input_example": "input example logged",
        "author": "by alice, created 2026-12-07T10:00:00+00:00",
        "files_unchanged": "sha256 aaaaaaaaaaaa, as first seen 2026-12-01T09:00:00+00:00",
    }


def test_an_ordinary_model_passes_and_the_missing_items_are_listed():
    """Logged without a run (MLflow 3 allows it), parameters, data, signature or example: reported, not judged."""
    bare = replace(
        FULL,
        run_id=None,
        run_state="none",
        parameters=0,
        datasets=(),
        signature=False,
        input_example=False,
        author=None,
        stamped_digest=None,
    )
    result = judge_provenance(bare, ProvenanceGatePolicy())
    assert result.status is GateStatus.PASSED
    assert result.summary == (
        "Provenance as required; files unchanged. Not recorded (reported only): source run: no source run; "
        "parameters: 0 parameter(s) logged; training data: no mlflow.data input and no dataset-hash tag; "
        "signature: no signature; input example: no input example; author: by unknown, created "
        "2026-12-07T10:00:00+00:00."
    )
    assert next(m.note for m in result.measurements if m.name == "files_unchanged") == (
        "sha256 aaaaaaaaaaaa: first seen now (stamped with this decision)"
    )
    dry = judge_provenance(replace(bare, stamps=False), ProvenanceGatePolicy())
    assert next(m.note for m in dry.measurements if m.name == "files_unchanged").endswith("(not stamped by a dry run)")
    # A run still open when the version is judged is reported, even when the policy requires the source run.
    running = judge_provenance(replace(FULL, run_state="RUNNING"), ProvenanceGatePolicy())
    assert running.status is GateStatus.PASSED and running.details["missing_reported"] == [
        "source run: run r1: RUNNING"
    ]
    strict = ProvenanceGatePolicy(signature="require", parameters="off", training_data="warn")
    failed = judge_provenance(bare, strict)
    assert failed.status is GateStatus.FAILED and failed.blocks_promotion
    assert failed.summary == "1 required provenance item(s) missing: signature: no signature."
    assert "parameters" not in {m.name for m in failed.measurements}
    warned = judge_provenance(replace(bare, signature=True), strict)
    assert warned.status is GateStatus.WARNED
    assert warned.summary == (
        "Provenance incomplete (the policy warns): training data: no mlflow.data input and no dataset-hash tag."
    )


def test_a_deleted_run_and_changed_files_fail():
    gone = replace(FULL, run_state="deleted", judged_digest="b" * 64)
    result = judge_provenance(gone, ProvenanceGatePolicy())
    assert result.status is GateStatus.FAILED
    assert result.details["missing_required"] == [
        "source run: run r1: deleted",
        "files unchanged: the files changed since modelgate first saw the version 2026-12-01T09:00:00+00:00: "
        "sha256 aaaaaaaaaaaa then, bbbbbbbbbbbb now",
    ]
    warn_only = judge_provenance(gone, ProvenanceGatePolicy(blocking=False))
    assert warn_only.status is GateStatus.WARNED


def test_a_dataset_hash_tag_records_the_training_data():
    tagged = replace(FULL, datasets=(), data_tags=("dataset_hash=9c1e",))
    result = judge_provenance(tagged, ProvenanceGatePolicy())
    assert result.status is GateStatus.PASSED
    assert next(m.note for m in result.measurements if m.name == "training_data") == "dataset_hash=9c1e"


def test_files_changed_before_the_alias_move():
    result = files_changed("a" * 64, "c" * 64, ProvenanceGatePolicy())
    assert result.status is GateStatus.FAILED and result.gate == "provenance"
    assert result.summary == (
        "The version's files changed after they were judged: sha256 aaaaaaaaaaaa judged, cccccccccccc in the "
        "registry before the champion alias was moved."
    )


def test_a_bad_provenance_level_is_a_one_line_policy_error():
    data = {"model_name": "m", "eval_data": {"path": "e.parquet", "target": "y"}}
    data["gates"] = {"provenance": {"signature": "must"}}
    with pytest.raises(PolicyError) as caught:
        parse_policy(data)
    assert str(caught.value) == (
        "policy: gates.provenance.signature: Input should be 'require', 'warn', 'report' or 'off'"
    )
