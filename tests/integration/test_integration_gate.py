"""The integration-test gate: a clean subprocess and a real MLflow scoring server on 127.0.0.1."""

from __future__ import annotations

import socket

import httpx
import pytest

from flows.promote import promote_version
from gates.outcome import Outcome
from tests.integration.conftest import BASELINE, INCONSISTENT, MODEL
from tests.integration.models import HangsOnSingleRows, log_python_model


def gate(outcome, name: str):
    return next(g for g in outcome.gates if g.gate == name)


def policy_with(tmp_path, full_demo_policy: str, gates_off: tuple[str, ...] = (), **settings) -> str:
    import yaml

    from tests.integration.conftest import absolute_paths

    data = yaml.safe_load(absolute_paths(open(full_demo_policy).read(), full_demo_policy))
    data["gates"]["integration"].update(settings)
    for name in gates_off:
        data["gates"].setdefault(name, {})["enabled"] = False
    path = tmp_path / "integration-policy.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def assert_port_closed(port: int) -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)


def test_good_version_passes_every_check_and_the_server_is_stopped(registry, full_demo_policy):
    outcome = promote_version(MODEL, BASELINE, full_demo_policy, dry_run=True)
    result = gate(outcome, "integration")
    assert result.status.value == "passed", result.summary
    names = [c["name"] for c in result.details["checks"]]
    assert "HTTP dataframe_split answers match" in names and "malformed request gets a client error" in names
    assert result.details["timings"]["server_startup_seconds"] > 0
    assert result.details["timings"]["request_latency_median_seconds"] > 0
    port = int(
        next(c for c in result.details["checks"] if c["name"].startswith("scoring server"))["detail"].split()[1][:-1]
    )
    assert_port_closed(port)


def test_batch_dependent_candidate_is_rejected_by_the_integration_gate(registry, tmp_path, full_demo_policy):
    promote_version(MODEL, BASELINE, full_demo_policy)
    policy = policy_with(tmp_path, full_demo_policy, serve=False)
    outcome = promote_version(MODEL, INCONSISTENT, policy)
    assert outcome.outcome is Outcome.REJECTED
    assert outcome.decision.failing_gates == ("integration",)
    failed = [c for c in gate(outcome, "integration").details["checks"] if not c["passed"]]
    # Standardising with each request's own statistics: a different batch gives different scores.
    assert [c["name"] for c in failed] == [
        "deterministic: equals the flow's predictions",
        "single rows agree with the batch",
    ]


def test_hanging_model_times_out(registry, tmp_path, full_demo_policy):
    from demo.adult_data import FEATURES, load_eval

    version = log_python_model(MODEL, HangsOnSingleRows(), load_eval()[FEATURES].head(5))
    # The in-process gates would wait on it too: the latency gate times single rows.
    policy = policy_with(tmp_path, full_demo_policy, ("latency", "robustness"), serve=False, probe_timeout_s=20)
    outcome = promote_version(MODEL, version, policy, dry_run=True)
    result = gate(outcome, "integration")
    assert result.status.value == "failed"
    assert "timed out after 20 s" in result.summary


def test_server_that_never_becomes_healthy(registry, tmp_path, full_demo_policy):
    policy = policy_with(tmp_path, full_demo_policy, server_startup_timeout_s=1)
    outcome = promote_version(MODEL, BASELINE, policy, dry_run=True)
    result = gate(outcome, "integration")
    assert result.status.value == "failed" and "not healthy after 1 s" in result.summary


def test_occupied_port(registry, tmp_path, full_demo_policy):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        policy = policy_with(tmp_path, full_demo_policy, port=port, server_startup_timeout_s=60)
        outcome = promote_version(MODEL, BASELINE, policy, dry_run=True)
    result = gate(outcome, "integration")
    check = next(c for c in result.details["checks"] if c["name"] == "scoring server becomes healthy")
    assert result.status.value == "failed" and not check["passed"]
    assert "address already in use" in check["detail"].lower() or "exited with code" in check["detail"]
