"""Rollbacks walk the ledger's champion history; bad input for rollback and reconcile changes nothing; the
scan reconciles, never promotes a rolled-back version, and never waits on a person (a real Prefect server,
a worker with one slot, and the project's deployments)."""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from flows.promote import promote
from flows.scan import scan_registry
from gates.outcome import Outcome
from modelgate.cli import main
from tasks.ledger import history
from tasks.policy_files import load_policy
from tasks.registry import STAMP_TAGS
from tasks.rollback_steps import RollbackPlan, move_back
from tasks.scan_steps import undecided_versions
from tests.conftest import ROOT
from tests.integration.conftest import BASELINE, BRITTLE, FULL, MODEL, WORSE, cli_env, write_policy
from tests.integration.servers import BIN, call, spawn, stop
from tests.integration.test_deployments import POOL, PROMOTE, deployed, scan  # noqa: F401 - `deployed` is a fixture

OTHER = "adult-income-b"  # a second registered model, for the scan


def lenient_policy(path: Path, **sections: object) -> str:
    """The quick policy with only an absolute AUC bar, so each demo version can replace the one before."""
    write_policy(path, **sections)
    data = yaml.safe_load(path.read_text())
    data["gates"]["evaluation"]["metrics"] = {"roc_auc": {"threshold": 0.5}}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def champion(registry, model: str = MODEL) -> str | None:
    aliases = registry.client().get_registered_model(model).aliases
    return str(aliases["champion"]) if "champion" in aliases else None


def modelgate_tags(registry, version: str) -> dict[str, str]:
    tags = registry.client().get_model_version(MODEL, version).tags
    return {k: v for k, v in tags.items() if k.startswith("modelgate.") and k not in STAMP_TAGS}


def flow_run_state(flow_run_id: str) -> tuple[str, str]:
    """(type, name) of a flow run on the session's Prefect harness."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        state = client.read_flow_run(flow_run_id).state
    return state.type.value, state.name


class Cli:
    """`modelgate` as a user runs it, in this process: (exit code, stdout, stderr)."""

    def __init__(self, capsys: pytest.CaptureFixture[str], policy: str) -> None:
        self.capsys, self.policy = capsys, policy

    def __call__(self, *args: str, model: str = MODEL) -> tuple[int, str, str]:
        code = main([*args, "--model", model, "--policy", self.policy])
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.mark.slow
def test_each_rollback_goes_one_step_further_back(registry, tmp_path, capsys):
    policy = lenient_policy(tmp_path / "policy.yaml")
    for version in (BASELINE, BRITTLE, FULL):
        assert promote(model=MODEL, version=version, policy_path=policy).outcome is Outcome.PROMOTED
    cli = Cli(capsys, policy)

    code, out, _ = cli("rollback", "--by", "oncall", "--reason", "latency alerts", "--json")
    first = json.loads(out)
    assert code == 0 and first["outcome"] == "rolled_back" and first["champion_after"] == BRITTLE
    assert first["message"] == f"champion rolled back from {FULL} to {BRITTLE} by oncall: latency alerts"
    assert flow_run_state(first["flow_run_id"]) == ("COMPLETED", "RolledBack")
    assert champion(registry) == BRITTLE
    entry = history(MODEL, "model-promotions")[-1]
    assert entry.run_id == first["ledger_run_id"]
    assert (entry.decision, entry.outcome, entry.status, entry.version) == (
        "rollback",
        "rolled_back",
        "FINISHED",
        BRITTLE,
    )
    assert (entry.prior_champion, entry.champion_after, entry.approver) == (FULL, BRITTLE, "oncall")
    assert modelgate_tags(registry, FULL) == {
        "modelgate.decision": "rollback",
        "modelgate.outcome": "rolled_back",
        "modelgate.ledger_run_id": entry.run_id,
    }

    code, out, _ = cli("rollback")
    assert (code, out) == (0, f"champion rolled back from {BRITTLE} to {BASELINE}\n")
    assert champion(registry) == BASELINE  # one step further back, not forth to v6
    assert modelgate_tags(registry, BRITTLE)["modelgate.outcome"] == "rolled_back"

    before = registry.snapshot()
    code, out, err = cli("rollback")
    assert (code, out) == (2, "")
    assert err == (
        f"error: no earlier champion to roll back to: the ledger records none before version {BASELINE} "
        f"(rolled back, never a rollback target: v{BRITTLE}, v{FULL})\n"
    )
    code, _, err = cli("rollback", "--to", FULL)
    assert code == 2 and err.startswith(f"error: version {FULL} was rolled back (ledger run ")
    assert registry.snapshot() == before

    # planned while v3 was champion, acted after the alias moved: compare-and-set refuses, the ledger says stale
    late = RollbackPlan(MODEL, current=BRITTLE, target=BASELINE)
    stale = move_back.fn(load_policy(policy), late, uuid.uuid4().hex, "test", None, "")
    assert (stale.outcome, stale.champion_after) == ("stale", BASELINE)
    entry = history(MODEL, "model-promotions")[-1]
    assert (entry.run_id, entry.outcome, entry.status) == (stale.ledger_run_id, "stale", "FINISHED")
    after = registry.snapshot()
    assert after["versions"] == before["versions"]
    assert sorted(after["ledger_runs"]) == sorted([*before["ledger_runs"], entry.run_id])


@pytest.mark.slow
def test_a_rolled_back_version_is_promoted_again_only_with_force_and_reason(registry, quick_policy, capsys):
    for version in (BASELINE, FULL):
        assert promote(model=MODEL, version=version, policy_path=quick_policy).outcome is Outcome.PROMOTED
    cli = Cli(capsys, quick_policy)
    assert cli("rollback")[0] == 0 and champion(registry) == BASELINE

    before = registry.snapshot()
    code, _, err = cli("rollback")
    assert code == 2 and err.startswith("error: no earlier champion to roll back to")
    for refused in (("--version", FULL), ("--version", FULL, "--force"), ("--version", FULL, "--reason", "fixed")):
        code, _, err = cli("promote", *refused)
        assert code == 2 and err == (
            f"error: version {FULL} of '{MODEL}' was rolled back; promote it again only with --force and "
            "--reason (recorded in the ledger)\n"
        )
    assert registry.snapshot() == before

    code, out, _ = cli("promote", "--version", FULL, "--force", "--reason", "feature pipeline fixed", "--json")
    again = json.loads(out)
    assert code == 0 and again["outcome"] == "promoted" and not again["reused"]  # judged again
    assert champion(registry) == FULL
    ledger_tags = registry.client().get_run(again["ledger_run_id"]).data.tags
    assert ledger_tags["modelgate.force_reason"] == "feature pipeline fixed"
    assert modelgate_tags(registry, FULL)["modelgate.outcome"] == "promoted"
    code, out, _ = cli("rollback")  # v6 is a rollback's source again, v1 its target
    assert code == 0 and champion(registry) == BASELINE


@pytest.mark.slow
def test_a_champion_move_made_outside_modelgate_is_a_step_of_the_history(registry, tmp_path, capsys):
    policy = lenient_policy(tmp_path / "flag.yaml", on_external_change="flag")
    assert promote(model=MODEL, version=BASELINE, policy_path=policy).outcome is Outcome.PROMOTED
    registry.client().set_registered_model_alias(MODEL, "champion", BRITTLE)  # by hand, in the MLflow UI
    code, out, _ = Cli(capsys, policy)("rollback")
    assert code == 0 and out.splitlines()[-1] == f"champion rolled back from {BRITTLE} to {BASELINE}"
    outside, rolled = history(MODEL, "model-promotions")[-2:]
    assert (outside.outcome, outside.prior_champion, outside.champion_after) == ("external_change", BASELINE, BRITTLE)
    assert (rolled.outcome, rolled.prior_champion, rolled.champion_after) == ("rolled_back", BRITTLE, BASELINE)
    assert modelgate_tags(registry, BRITTLE)["modelgate.outcome"] == "rolled_back"


def test_rollback_and_reconcile_of_an_unknown_model_change_nothing(registry, tmp_path, capsys):
    ghost = write_policy(tmp_path / "ghost.yaml", model_name="ghost")
    cli = Cli(capsys, ghost)
    before = registry.snapshot()
    code, out, err = cli("rollback", model="ghost")
    assert (code, out, err) == (2, "", f"error: registered model 'ghost' not found in {registry.uri}\n")
    code, out, err = cli("reconcile", model="ghost")
    assert (code, out) == (2, "")
    assert err.splitlines()[-1] == f"error: registered model 'ghost' not found in {registry.uri}"
    code = main(["rollback", "--model", "ghost"])
    assert code == 2 and capsys.readouterr().err == "error: policy file not found: configs/policies/ghost.yaml\n"
    assert registry.snapshot() == before
    ghost_now = registry.snapshot("ghost")
    assert (ghost_now["versions"], ghost_now["ledger_runs"]) == ({}, before["ledger_runs"])


def test_scan_reconciles_each_model_and_skips_rolled_back_versions(registry, tmp_path):
    folder = tmp_path / "policies"
    folder.mkdir()
    policy_path = write_policy(folder / f"{MODEL}.yaml")
    c = registry.client()
    for version in ("2", "3", "4", "5", WORSE):
        c.set_model_version_tag(MODEL, version, "modelgate.outcome", "rejected")
    c.set_model_version_tag(MODEL, FULL, "modelgate.outcome", "rolled_back")
    c.set_registered_model_alias(MODEL, "champion", BASELINE)  # by hand: the ledger knows nothing of it
    policy = load_policy(policy_path)
    assert undecided_versions(policy) == []

    assert scan_registry(models=[MODEL], policy_dir=str(folder)) == []  # nothing to start
    (entry,) = history(MODEL, "model-promotions")
    assert (entry.outcome, entry.trigger, entry.champion_after) == ("external_change", "schedule", BASELINE)

    c.set_model_version_tag(MODEL, FULL, "modelgate.outcome", "stale")  # judged against an old champion
    assert undecided_versions(policy) == [FULL]


# --- the scan never waits on a person: real server, deployments, a worker with a single slot ---------------


@contextmanager
def one_slot_worker(env: dict[str, str], log: Path) -> Iterator[None]:
    """`prefect worker start` that runs one flow at a time and polls every second."""
    env = {**env, "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "1"}
    proc = spawn([str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--limit", "1"], env, log)
    try:
        yield
    finally:
        stop(proc, signal.SIGINT, timeout=30)


def run_of(api: str, model: str, version: str) -> dict:
    (run,) = [
        r for r in _promote_runs(api) if r["parameters"]["model"] == model and r["parameters"]["version"] == version
    ]
    return run


def _promote_runs(api: str) -> list[dict]:
    dep = call("GET", f"{api}/deployments/name/{PROMOTE}")
    return call("POST", f"{api}/flow_runs/filter", {"deployments": {"id": {"any_": [dep["id"]]}}})


def wait_for(api: str, run_id: str, done: tuple[str, ...], log: Path, timeout: float = 240) -> dict:
    """The flow run once its state type is one of `done`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = call("GET", f"{api}/flow_runs/{run_id}")
        if run["state"]["type"] in done:
            return run
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} still {run['state']['name']} after {timeout} s: {log.read_text()[-3000:]}")


def form_description(api: str, run_id: str, pause_key: str, timeout: float = 30) -> str:
    """The approval form's text (saved just after the run suspends)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = call("POST", f"{api}/flow_runs/{run_id}/input/filter", {"prefix": f"suspended-{pause_key}-description"})
        if rows:
            return json.loads(rows[0]["value"])
        time.sleep(0.5)
    raise AssertionError(f"no approval form for request {pause_key} of run {run_id}")


def started(done) -> list[dict]:
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def scan_env(registry, api: str) -> dict[str, str]:
    return {**cli_env(registry, api), "MODELGATE_PROJECT_DIR": str(ROOT)}


def clear_promote_runs(api: str) -> None:
    """Runs of the promote deployment left by other tests would count as in flight."""
    for run in _promote_runs(api):
        call("DELETE", f"{api}/flow_runs/{run['id']}")


def approval_policies(registry, folder: Path, **approval: object) -> None:
    """MODEL v1 needs a person's approval (its other versions are decided); OTHER v1 needs nobody."""
    folder.mkdir()
    settings = {"mode": "always", "approvers": ["alice"], **approval}
    write_policy(folder / f"{MODEL}.yaml", approval=settings)
    write_policy(folder / f"{OTHER}.yaml", model_name=OTHER)
    c = registry.client()
    for version in ("2", "3", "4", "5", FULL, WORSE):
        c.set_model_version_tag(MODEL, version, "modelgate.outcome", "rejected")
    source = c.get_model_version(MODEL, BASELINE)
    c.create_registered_model(OTHER)
    c.create_model_version(OTHER, source.source, run_id=source.run_id)


@pytest.mark.slow
def test_a_pending_approval_holds_neither_the_scan_nor_a_worker_slot(registry, deployed, tmp_path):  # noqa: F811
    api = deployed
    clear_promote_runs(api)
    folder = tmp_path / "policies"
    approval_policies(registry, folder, timeout_s=3600)
    env = scan_env(registry, api)
    log = tmp_path / "worker.log"
    with one_slot_worker(env, log):
        (a,) = started(scan(env, models=[MODEL], policy_dir=str(folder)))
        assert (a["model"], a["version"], a["state"]) == (MODEL, BASELINE, "SCHEDULED")
        waiting = wait_for(api, a["flow_run_id"], ("PAUSED", "COMPLETED", "FAILED", "CRASHED"), log)
        assert waiting["state"]["name"] == "Suspended", waiting["state"]
        assert waiting["state"]["state_details"]["pause_reschedule"] is True  # the process exited
        assert "Approval needed" in form_description(api, a["flow_run_id"], "1")

        (b,) = started(scan(env, policy_dir=str(folder)))  # every model: A is in flight, only B starts
        assert (b["model"], b["version"]) == (OTHER, BASELINE)
        b_done = wait_for(api, b["flow_run_id"], ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"), log)
        assert b_done["state"]["name"] == "Promoted", b_done["state"]
        assert call("GET", f"{api}/flow_runs/{a['flow_run_id']}")["state"]["name"] == "Suspended"  # still waiting
        assert champion(registry, OTHER) == BASELINE and champion(registry) is None

        answer = {"approver": "alice", "approve": True, "reason": "reviewed the report"}
        assert call("POST", f"{api}/flow_runs/{a['flow_run_id']}/resume", {"run_input": answer})["status"] == "ACCEPT"
        a_done = wait_for(api, a["flow_run_id"], ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"), log)
    assert a_done["state"]["name"] == "Promoted", log.read_text()[-3000:]
    assert champion(registry) == BASELINE
    (entry,) = [e for e in history(MODEL, "model-promotions") if e.decision == "promote"]
    assert (entry.outcome, entry.approver, entry.trigger) == ("promoted", "alice", "schedule")
    assert run_of(api, MODEL, BASELINE)["id"] == a["flow_run_id"]  # the second scan did not start another


@pytest.mark.slow
def test_the_scan_resumes_an_approval_past_its_deadline_to_record_the_timeout(registry, deployed, tmp_path):  # noqa: F811
    api = deployed
    clear_promote_runs(api)
    folder = tmp_path / "policies"
    approval_policies(registry, folder, timeout_s=5, on_timeout="reject")
    env = scan_env(registry, api)
    log = tmp_path / "worker.log"
    with one_slot_worker(env, log):
        (a,) = started(scan(env, models=[MODEL], policy_dir=str(folder)))
        waiting = wait_for(api, a["flow_run_id"], ("PAUSED", "COMPLETED", "FAILED", "CRASHED"), log)
        assert waiting["state"]["name"] == "Suspended", waiting["state"]
        time.sleep(6)  # past the 5 s deadline; nobody answered
        assert started(scan(env, models=[MODEL], policy_dir=str(folder))) == []
        done = wait_for(api, a["flow_run_id"], ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"), log)
    assert done["state"]["name"] == "Rejected", log.read_text()[-3000:]
    (entry,) = [e for e in history(MODEL, "model-promotions") if e.decision in ("promote", "reject")]
    assert entry.outcome == "rejected"
    tags = registry.client().get_run(entry.run_id).data.tags
    assert tags["modelgate.approval"] == "timed out"
    assert champion(registry) is None
