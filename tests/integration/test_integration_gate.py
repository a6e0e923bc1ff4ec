"""The integration-test gate: a clean judging-side process and a real MLflow scoring server on 127.0.0.1.
The batch-dependent demo model goes through the promotion flow; the other cases through the gate's step."""

from __future__ import annotations

import socket

import httpx
import pytest

from gates.outcome import Outcome
from tasks.integration_steps import integration_step
from tests.integration.conftest import BASELINE, INCONSISTENT, MODEL, flow_run_state, gate, judging, promote
from tests.integration.models import HangsOnSingleRows, log_python_model

pytestmark = pytest.mark.slow  # clean processes, scoring servers and time-outs: the full suite

PROBE_CHECKS = [
    "loads in a clean process",
    "signature matches the eval data",
    "logged input example predicts",
    "predicts the sample",
    "deterministic: equals the flow's predictions",
    "single rows agree with the batch",
]
SERVER_CHECKS = [
    "scoring server becomes healthy",
    "HTTP dataframe_split answers match",
    "malformed request gets a client error",
]


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


def integration_of(policy: str, version: str, out_dir):
    """The integration gate's result for one version, from its step on the judging side."""
    with judging(policy, version, out_dir) as (ctx, run):
        return integration_step(ctx, run)


def server_port(result) -> int:
    detail = next(c["detail"] for c in result.details["checks"] if c["name"] == "scoring server becomes healthy")
    return int(detail.split()[1].rstrip(":"))


def assert_port_closed(port: int) -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)


def test_good_version_passes_every_check_and_the_server_is_stopped(registry, full_demo_policy, tmp_path):
    result = integration_of(full_demo_policy, BASELINE, tmp_path)
    assert result.status.value == "passed", result.summary
    assert [c["name"] for c in result.details["checks"]] == PROBE_CHECKS + SERVER_CHECKS
    assert result.summary.startswith(f"All {len(PROBE_CHECKS + SERVER_CHECKS)} integration checks pass.")
    assert result.details["timings"]["server_startup_seconds"] > 0
    assert result.details["timings"]["request_latency_median_seconds"] > 0
    assert_port_closed(server_port(result))


def test_batch_dependent_candidate_is_rejected_by_the_integration_gate(
    registry, tmp_path, full_demo_policy, quick_policy
):
    policy = policy_with(tmp_path, full_demo_policy, serve=False)
    promote(BASELINE, quick_policy)
    outcome = promote(INCONSISTENT, policy)
    assert outcome.outcome is Outcome.REJECTED
    assert flow_run_state(outcome.flow_run_id) == ("FAILED", "Rejected")
    assert outcome.decision.failing_gates == ("integration",)
    checks = gate(outcome, "integration").details["checks"]
    assert [c["name"] for c in checks] == PROBE_CHECKS
    # Standardising with each request's own statistics: a different batch gives different scores.
    assert [c["name"] for c in checks if not c["passed"]] == [
        "deterministic: equals the flow's predictions",
        "single rows agree with the batch",
    ]


def test_hanging_model_times_out(registry, tmp_path, full_demo_policy):
    from demo.adult_data import FEATURES, load_eval

    version = log_python_model(MODEL, HangsOnSingleRows(), load_eval()[FEATURES].head(5))
    policy = policy_with(tmp_path, full_demo_policy, serve=False, probe_timeout_s=20)
    result = integration_of(policy, version, tmp_path)
    assert result.status.value == "failed"
    assert [(c["name"], c["passed"]) for c in result.details["checks"]] == [("clean process", False)]
    assert result.summary.startswith(
        "1 of 1 integration checks failed: clean process: timed out after 20 s (a hanging model?)"
    )


def test_server_that_never_becomes_healthy(registry, tmp_path, full_demo_policy):
    policy = policy_with(tmp_path, full_demo_policy, server_startup_timeout_s=1)
    result = integration_of(policy, BASELINE, tmp_path)
    assert result.status.value == "failed"
    assert [c["name"] for c in result.details["checks"]] == PROBE_CHECKS + SERVER_CHECKS[:1]
    port = server_port(result)
    assert result.summary.startswith(
        f"1 of 7 integration checks failed: scoring server becomes healthy: port {port}: not healthy after 1 s"
    )
    assert_port_closed(port)


def test_occupied_port(registry, tmp_path, full_demo_policy):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        policy = policy_with(tmp_path, full_demo_policy, port=port, server_startup_timeout_s=60)
        result = integration_of(policy, BASELINE, tmp_path)
    check = next(c for c in result.details["checks"] if c["name"] == "scoring server becomes healthy")
    assert result.status.value == "failed" and not check["passed"]
    assert check["detail"].startswith(
        f"port {port}: server exited with code 3\nERROR:    [Errno 98] error while attempting to bind on address "
        f"('127.0.0.1', {port}): address already in use\n"
    )
