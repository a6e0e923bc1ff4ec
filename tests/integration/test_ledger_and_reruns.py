"""Idempotent re-runs, the per-model lock, the approval timeout, rollback and champion-at (Prefect harness)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flows.promote import promote_version
from gates.errors import LockTimeout
from gates.outcome import Outcome
from modelgate.cli import main
from tasks.ledger import history
from tasks.locks import lock_name, promotion_lock
from tests.integration.conftest import (
    BASELINE,
    BRITTLE,
    EVIDENCE_CACHE,
    FULL,
    MODEL,
    WORSE,
    flow_run_state,
    promote,
    write_policy,
)


def test_rerun_reuses_cached_gates_and_records_no_second_decision(registry, quick_policy):
    first = promote(WORSE, quick_policy)
    assert first.outcome is Outcome.REJECTED and not first.reused
    (cached,) = registry.run_ids(EVIDENCE_CACHE)  # the gate results, kept on the evaluation key
    assert registry.client().get_run(cached).data.tags["modelgate.evaluation_key"] == first.evaluation_key

    before = registry.snapshot()
    again = promote(WORSE, quick_policy)
    assert again.reused and again.outcome is Outcome.REJECTED and again.exit_code == 1
    assert flow_run_state(again.flow_run_id) == ("FAILED", "Rejected")
    assert again.ledger_run_id == first.ledger_run_id
    assert again.message.startswith(f"already decided (rejected) in ledger run {first.ledger_run_id} at ")
    assert again.evaluation_key == first.evaluation_key
    assert again.gates == first.gates
    # Nothing written: no ledger run, no tag, and the cached gate results were read, not stored again.
    assert registry.snapshot() == before

    forced = promote(WORSE, quick_policy, force=True)
    assert not forced.reused and forced.ledger_run_id != first.ledger_run_id
    assert forced.evaluation_key == first.evaluation_key
    assert len(registry.run_ids(EVIDENCE_CACHE)) == 2  # force ran the gates again
    assert len(history(MODEL, "model-promotions")) == 2


def test_a_promotion_undone_by_rollback_is_judged_again(registry, quick_policy, capsys):
    promote_version(MODEL, BASELINE, quick_policy)
    first = promote_version(MODEL, FULL, quick_policy)
    assert first.outcome is Outcome.PROMOTED
    assert main(["rollback", "--model", MODEL, "--policy", quick_policy]) == 0
    # same key as `first`, but v1 is champion again; a rolled-back version needs force and a reason
    again = promote_version(MODEL, FULL, quick_policy, force=True, reason="the alert was a false alarm")
    assert again.evaluation_key == first.evaluation_key
    assert again.outcome is Outcome.PROMOTED and not again.reused and again.ledger_run_id != first.ledger_run_id
    assert str(registry.client().get_model_version_by_alias(MODEL, "champion").version) == FULL


def test_a_changed_policy_is_a_new_evaluation(registry, quick_policy, tmp_path):
    first = promote(WORSE, quick_policy)
    stricter = write_policy(tmp_path / "other.yaml", description="another policy text changes the hash")
    second = promote(WORSE, stricter)
    assert second.evaluation_key != first.evaluation_key and not second.reused
    assert second.outcome is Outcome.REJECTED and second.ledger_run_id != first.ledger_run_id
    assert len(registry.run_ids(EVIDENCE_CACHE)) == 2
    assert len(history(MODEL, "model-promotions")) == 2


def active_slots(name: str) -> int:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_global_concurrency_limit_by_name(name).active_slots


def test_held_lock_stops_the_promotion_before_it_writes(registry, tmp_path, quick_policy):
    policy = write_policy(tmp_path / "p.yaml", concurrency={"lock_timeout_s": 2})
    before = registry.snapshot()
    with promotion_lock(MODEL, 10) as name:
        assert name == lock_name(MODEL) and active_slots(name) == 1
        with pytest.raises(LockTimeout, match="could not take the promotion lock"):
            promote(BASELINE, policy)
    assert registry.snapshot() == before
    assert active_slots(name) == 0
    after = promote(BASELINE, quick_policy)  # released: the promotion goes through
    assert after.outcome is Outcome.PROMOTED


def test_approval_timeout_rejects_by_default(registry, tmp_path):
    approval = {"mode": "always", "approvers": ["alice"], "timeout_s": 2, "poll_interval_s": 1}
    policy = write_policy(tmp_path / "p.yaml", approval=approval)
    outcome = promote(BASELINE, policy)
    assert outcome.outcome is Outcome.REJECTED and outcome.approval.timed_out
    assert flow_run_state(outcome.flow_run_id) == ("FAILED", "Rejected")
    assert outcome.decision.reasons[0] == "no approval within 2 s"
    assert not registry.client().get_registered_model(MODEL).aliases
    assert registry.modelgate_tags(BASELINE) == {
        "modelgate.decision": "reject",
        "modelgate.outcome": "rejected",
        "modelgate.ledger_run_id": outcome.ledger_run_id,
        "modelgate.report": outcome.report_links["report"],
    }
    ledger_tags = registry.client().get_run(outcome.ledger_run_id).data.tags
    assert ledger_tags["modelgate.approval"] == "timed out"


def test_dry_run_says_a_person_would_be_asked(registry, tmp_path):
    approval = {"mode": "always", "approvers": ["alice"], "timeout_s": 1, "poll_interval_s": 1}
    policy = write_policy(tmp_path / "p.yaml", approval=approval)
    before = registry.snapshot()
    outcome = promote(BASELINE, policy, dry_run=True)
    assert outcome.outcome is Outcome.DRY_RUN and outcome.decision.verdict.value == "needs_approval"
    assert outcome.exit_code == 4 and outcome.approval is None
    assert flow_run_state(outcome.flow_run_id) == ("COMPLETED", "DryRun")
    assert registry.snapshot() == before


def test_warnings_need_approval_only_in_on_warning_mode(registry, tmp_path):
    approval = {"mode": "on_warning", "approvers": ["alice"], "timeout_s": 1, "poll_interval_s": 1}
    policy = write_policy(tmp_path / "p.yaml", approval=approval)
    outcome = promote(BASELINE, policy)  # evaluation alone passes without warnings
    assert outcome.outcome is Outcome.PROMOTED and outcome.approval is None
    assert outcome.decision.warning_gates == ()


def test_champion_at_and_rollback(registry, quick_policy, capsys):
    assert promote_version(MODEL, BASELINE, quick_policy).outcome is Outcome.PROMOTED
    between = datetime.now(UTC)
    assert promote_version(MODEL, FULL, quick_policy).outcome is Outcome.PROMOTED
    c = registry.client()

    def cli(*args: str) -> tuple[int, str, str]:
        code = main([*args, "--model", MODEL, "--policy", quick_policy])
        out, err = capsys.readouterr()
        return code, out, err

    assert cli("champion-at", "--time", between.isoformat())[1].startswith(f"{MODEL}: v{BASELINE} was champion")
    assert f"v{FULL} was champion" in cli("champion-at", "--time", "now")[1]
    assert "no champion recorded" in cli("champion-at", "--time", "2000-01-01T00:00:00Z")[1]
    code, _, err = cli("champion-at", "--time", "yesterday")
    assert code == 2 and "not ISO 8601" in err

    before = registry.snapshot()
    code, _, err = cli("rollback", "--to", BRITTLE)
    assert code == 2 and "never champion" in err and registry.snapshot() == before
    code, _, err = cli("rollback", "--to", FULL)
    assert code == 2 and "already the champion" in err and registry.snapshot() == before

    code, out, _ = cli("rollback", "--by", "oncall", "--reason", "latency alerts after v6")
    assert code == 0 and f"rolled back from {FULL} to {BASELINE}" in out
    assert str(c.get_model_version_by_alias(MODEL, "champion").version) == BASELINE
    assert str(c.get_model_version_by_alias(MODEL, "previous-champion").version) == FULL
    entry = history(MODEL, "model-promotions")[-1]
    assert entry.outcome == "rolled_back" and entry.prior_champion == FULL and entry.champion_after == BASELINE
    assert entry.approver == "oncall" and entry.approval_reason == "latency alerts after v6"
    assert c.get_model_version(MODEL, FULL).tags["modelgate.outcome"] == "rolled_back"
    assert f"v{BASELINE} was champion" in cli("champion-at", "--time", "now")[1]

    before = registry.snapshot()
    code, _, err = cli("rollback", "--to", FULL)  # rolled back: not a rollback target
    assert code == 2 and f"version {FULL} was rolled back" in err and registry.snapshot() == before

    again = promote_version(MODEL, FULL, quick_policy, force=True, reason="alerts explained")
    assert again.outcome is Outcome.PROMOTED
    c.delete_model_version(MODEL, BASELINE)
    before = registry.snapshot()
    code, _, err = cli("rollback", "--to", BASELINE)
    assert code == 2 and "has been deleted" in err and registry.snapshot() == before
    code, _, err = cli("rollback")
    assert code == 2 and "has been deleted" in err


def test_rollback_without_a_champion_is_bad_input(registry, quick_policy, capsys):
    code = main(["rollback", "--model", MODEL, "--policy", quick_policy])
    assert code == 2 and "no champion to roll back" in capsys.readouterr().err


def test_scan_policy_folder_bad_input(tmp_path):
    from gates.errors import BadInputError, PolicyError
    from tasks.scan_steps import policies_in

    with pytest.raises(BadInputError, match="policy folder not found"):
        policies_in(str(tmp_path / "missing"))
    folder = tmp_path / "policies"
    folder.mkdir()
    write_policy(folder / "a.yaml")
    write_policy(folder / "b.yaml")
    with pytest.raises(PolicyError, match=f"a second policy for '{MODEL}'"):
        policies_in(str(folder))
    (folder / "b.yaml").write_text("model_name: [unclosed\n")
    with pytest.raises(PolicyError, match="invalid YAML at line"):
        policies_in(str(folder))
    (folder / "b.yaml").unlink()
    assert policies_in(str(folder)) == {MODEL: str(folder / "a.yaml")}
