"""Human approval against a real `prefect server start`: the paused run is found and resumed over its REST API."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.conftest import BASELINE, EVIDENCE_CACHE, MODEL, WORSE, cli_env, write_policy
from tests.integration.servers import BIN, call

pytestmark = pytest.mark.slow

APPROVERS = ["alice", "bob"]


def approval_policy(tmp_path: Path, **approval: object) -> str:
    settings = {"mode": "always", "approvers": APPROVERS, "timeout_s": 240, "poll_interval_s": 1, **approval}
    return write_policy(tmp_path / "approval-policy.yaml", approval=settings)


def start_promotion(registry, api: str, version: str, policy: str) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "modelgate"), "promote", "--model", MODEL, "--version", version, "--policy", policy, "--json"],
        env=cli_env(registry, api),
        cwd=registry.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def paused_run(api: str, policy: str, proc: subprocess.Popen, pause_key: str, timeout: float = 300) -> dict:
    """The promotion's flow run once it is paused with this pause key (1 for the first request). About 10 s
    alone; the wait allows for four test workers sharing two cores."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"promotion ended before pausing: {proc.stdout.read()} {proc.stderr.read()}")
        runs = call("POST", f"{api}/flow_runs/filter", {"flow_runs": {"state": {"type": {"any_": ["PAUSED"]}}}})
        for run in runs:
            details = run["state"]["state_details"]
            if run["parameters"].get("policy_path") == policy and details["pause_key"] == pause_key:
                return run
        time.sleep(0.5)
    raise AssertionError(f"no paused run (pause {pause_key}) after {timeout} s")


def resume(api: str, run_id: str, answer: dict) -> dict:
    return call("POST", f"{api}/flow_runs/{run_id}/resume", {"run_input": answer})


def state_of(api: str, run_id: str) -> str:
    return call("GET", f"{api}/flow_runs/{run_id}")["state"]["type"]


def final_state(api: str, run_id: str) -> tuple[str, str]:
    state = call("GET", f"{api}/flow_runs/{run_id}")["state"]
    return state["type"], state["name"]


def without_cache(snapshot: dict) -> dict:
    """A registry snapshot without the evidence cache (gate results are kept before anyone is asked)."""
    return {k: v for k, v in snapshot.items() if k != "evidence_cache_runs"}


def finish(proc: subprocess.Popen) -> tuple[int, dict]:
    out, err = proc.communicate(timeout=180)
    assert out.strip(), err[-3000:]
    return proc.returncode, json.loads(out)


def form_description(api: str, run_id: str, pause_key: str) -> str:
    rows = call("POST", f"{api}/flow_runs/{run_id}/input/filter", {"prefix": f"paused-{pause_key}-description"})
    return json.loads(rows[0]["value"]) if rows else ""


def test_unlisted_approver_does_not_count_and_malformed_input_is_refused(registry, prefect_server_api, tmp_path):
    api = prefect_server_api
    policy = approval_policy(tmp_path)
    before = registry.snapshot()
    proc = start_promotion(registry, api, BASELINE, policy)
    try:
        run = paused_run(api, policy, proc, "1")
        description = form_description(api, run["id"], "1")
        assert "Approval needed" in description and "evaluation" in description and "alice, bob" in description
        # Nothing is decided while the run waits: no tag, alias or ledger run; only the gate results are cached.
        assert without_cache(registry.snapshot()) == without_cache(before)
        assert len(registry.run_ids(EVIDENCE_CACHE)) == 1

        refused = resume(api, run["id"], {"approve": "maybe"})
        assert refused["status"] != "ACCEPT" and "Validation failed" in refused["details"]["reason"]
        assert state_of(api, run["id"]) == "PAUSED"

        assert resume(api, run["id"], {"approver": "mallory", "approve": True, "reason": "lgtm"})["status"] == "ACCEPT"
        run = paused_run(api, policy, proc, "2")  # asked again
        assert "mallory is not on the approvers list" in form_description(api, run["id"], "2")
        answer = {"approver": "Bob", "approve": False, "reason": "fairness report needs a second look"}
        assert resume(api, run["id"], answer)["status"] == "ACCEPT"
        code, outcome = finish(proc)
    finally:
        proc.kill()
    assert code == 1 and outcome["outcome"] == "rejected"
    assert final_state(api, outcome["flow_run_id"]) == ("FAILED", "Rejected")
    approval = outcome["approval"]
    assert approval["approver"] == "Bob" and approval["approved"] is False and approval["requests"] == 2
    assert any("mallory" in why for why in approval["ignored"])
    assert outcome["decision"]["reasons"][0] == "rejected by Bob: fairness report needs a second look"

    c = registry.client()
    assert registry.modelgate_tags(BASELINE) == {
        "modelgate.decision": "reject",
        "modelgate.outcome": "rejected",
        "modelgate.ledger_run_id": outcome["ledger_run_id"],
        "modelgate.report": outcome["report_links"]["report"],
    }
    tags = c.get_run(outcome["ledger_run_id"]).data.tags  # who answered, and why, is in the ledger
    assert tags["modelgate.approver"] == "Bob" and tags["modelgate.approval"] == "rejected"
    assert tags["modelgate.approval_reason"] == "fairness report needs a second look"
    assert tags["modelgate.approval_time"] == approval["answered_at"]
    assert not c.get_registered_model(MODEL).aliases  # no champion


def test_override_of_a_failed_gate_needs_a_written_reason(registry, prefect_server_api, tmp_path):
    api = prefect_server_api
    registry.client().set_registered_model_alias(MODEL, "champion", BASELINE)
    policy = approval_policy(tmp_path, allow_override=True)
    proc = start_promotion(registry, api, WORSE, policy)  # fails the evaluation gate against v1
    try:
        run = paused_run(api, policy, proc, "1")
        assert "override" in form_description(api, run["id"], "1")
        assert resume(api, run["id"], {"approver": "alice", "approve": True, "reason": "  "})["status"] == "ACCEPT"
        run = paused_run(api, policy, proc, "2")
        assert "without a written reason" in form_description(api, run["id"], "2")
        answer = {"approver": "alice", "approve": True, "reason": "hotfix: v1 mislabels a new product line"}
        assert resume(api, run["id"], answer)["status"] == "ACCEPT"
        code, outcome = finish(proc)
    finally:
        proc.kill()
    assert code == 0 and outcome["outcome"] == "promoted" and outcome["champion_after"] == WORSE
    assert outcome["approval"]["override"] is True
    assert outcome["decision"]["failing_gates"] == ["evaluation"]  # the failure stays on record
    assert final_state(api, outcome["flow_run_id"]) == ("COMPLETED", "Promoted")
    assert registry.modelgate_tags(WORSE) == {
        "modelgate.decision": "promote",
        "modelgate.outcome": "promoted",
        "modelgate.ledger_run_id": outcome["ledger_run_id"],
        "modelgate.report": outcome["report_links"]["report"],
    }
    tags = registry.client().get_run(outcome["ledger_run_id"]).data.tags
    assert tags["modelgate.override"] == "true" and tags["modelgate.approver"] == "alice"
    assert tags["modelgate.approval_reason"] == "hotfix: v1 mislabels a new product line"
    assert str(registry.client().get_model_version_by_alias(MODEL, "previous-champion").version) == BASELINE


def test_timeout_leaves_the_version_pending(registry, prefect_server_api, tmp_path):
    policy = approval_policy(tmp_path, timeout_s=3, on_timeout="pending")
    before = registry.snapshot()
    proc = start_promotion(registry, prefect_server_api, BASELINE, policy)
    try:
        code, outcome = finish(proc)
    finally:
        proc.kill()
    assert code == 4 and outcome["outcome"] == "pending" and outcome["approval"]["timed_out"] is True
    assert outcome["decision"]["verdict"] == "needs_approval"
    assert final_state(prefect_server_api, outcome["flow_run_id"]) == ("CANCELLED", "Pending")
    after = registry.snapshot()
    assert not registry.client().get_registered_model(MODEL).aliases
    assert len(after["ledger_runs"]) == len(before["ledger_runs"]) + 1
    assert registry.modelgate_tags(BASELINE) == {
        "modelgate.decision": "needs_approval",
        "modelgate.outcome": "pending",
        "modelgate.ledger_run_id": outcome["ledger_run_id"],
        "modelgate.report": outcome["report_links"]["report"],
    }
    ledger = registry.client().get_run(outcome["ledger_run_id"]).data.tags
    assert ledger["modelgate.approval"] == "timed out" and ledger["modelgate.outcome"] == "pending"
