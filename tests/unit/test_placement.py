"""The policy's placement section and the pure rules around placed gates (gates/placement.py)."""

from __future__ import annotations

from typing import get_args

import pytest

from gates.errors import PolicyError
from gates.placement import PLACEABLE, PlaceableGate, in_run_order, placed_groups, undelivered, where_judged
from gates.registry import GATES
from gates.result import GateResult, GateStatus
from tasks.policy_files import load_policy

MINIMAL = "model_name: m\neval_data: {path: e.csv, target: y}\n"


def policy_from(tmp_path, extra: str):
    path = tmp_path / "p.yaml"
    path.write_text(MINIMAL + extra)
    return load_policy(path)


def test_the_placeable_gates_are_those_that_judge_in_their_own_processes():
    assert set(get_args(PlaceableGate)) == set(PLACEABLE)
    assert set(PLACEABLE) == {g.name for g in GATES if "judging" in g.needs}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "placement: {pools: {evaluation: gpu, latency: gpu}}\n",
            "placement.pools: evaluation cannot be placed on another work pool (placeable: robustness, latency, "
            "integration)",
        ),
        ("placement: {pools: {latency: gpu}, colour: blue}\n", "placement.colour: Extra inputs are not permitted"),
        ("placement: {pools: {latency: a/b}}\n", "placement.pools.latency: String should match pattern"),
        (
            "placement: {pools: {latency: gpu}, pickup_timeout_s: 900, timeout_s: 600}\n",
            "placement: pickup_timeout_s (900) is longer than timeout_s (600)",
        ),
    ],
)
def test_a_bad_placement_is_one_policy_error(tmp_path, extra, message):
    with pytest.raises(PolicyError) as exc:
        policy_from(tmp_path, extra)
    assert str(exc.value).startswith(f"{tmp_path / 'p.yaml'}: {message}")


def test_enabled_placed_gates_are_grouped_by_pool_in_run_order(tmp_path):
    policy = policy_from(
        tmp_path,
        "placement: {pools: {latency: gpu, robustness: gpu, integration: big}}\n"
        "gates: {integration: {enabled: false}}\n",
    )
    assert placed_groups(policy) == {"gpu": ("robustness", "latency")}
    assert placed_groups(policy_from(tmp_path, "")) == {}


def test_a_placed_run_that_delivers_nothing_errors_its_gates_as_their_policy_blocks(tmp_path):
    policy = policy_from(tmp_path, "gates: {latency: {blocking: false}}\n")
    where = {"work_pool": "gpu", "worker": None, "flow_run_id": "f1"}
    found = undelivered(policy, ("robustness", "latency"), "no worker on work pool 'gpu' picked up the run", where)
    assert [(r.gate, r.status, r.blocking) for r in found] == [
        ("robustness", GateStatus.ERRORED, True),
        ("latency", GateStatus.ERRORED, False),
    ]
    assert found[1].summary == "latency gate errored: no worker on work pool 'gpu' picked up the run"
    assert found[1].details == {
        "work_pool": "gpu",
        "flow_run_id": "f1",
        "error": "no worker on work pool 'gpu' picked up the run",
    }


def test_the_placed_run_s_own_account_stands_and_results_join_in_run_order():
    placed = GateResult(gate="latency", status=GateStatus.PASSED, summary="ok", details={"worker": "gpu-1"})
    assert where_judged(placed, {"worker": "label", "work_pool": "gpu"}).details == {
        "worker": "gpu-1",
        "work_pool": "gpu",
    }
    names = ["isolation", "latency", "evaluation", "robustness", "data_validation"]
    results = [GateResult(gate=n, status=GateStatus.PASSED, summary=n) for n in names]
    assert [r.gate for r in in_run_order(results)] == [
        "data_validation",
        "evaluation",
        "robustness",
        "latency",
        "isolation",
    ]
