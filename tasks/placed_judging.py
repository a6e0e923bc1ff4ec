"""Placed gates judged on the worker of their pool: the promotion's versions and data loaded again and checked to be
the same inputs (the evaluation key's parts), both models scored, only the placed gates judged, and the results
handed back through the evidence store in MLflow under the run's own key, where the promotion reads them."""

from __future__ import annotations

import os
import platform
import socket
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from gates.errors import BadInputError
from gates.placement import PLACEABLE, where_judged
from gates.registry import GATES
from gates.result import GateResult
from tasks import evidence_store, registry
from tasks.evaluation_key import key_parts
from tasks.evidence import evidence_root
from tasks.gate_runner import GateRun, run_gates
from tasks.inputs import PromotionInputs, Versions, load
from tasks.mlflow_store import client
from tasks.placement import placed_key
from tasks.policy_files import policy_for


def device() -> dict[str, str]:
    """What torch sees here: cuda and the GPU's name, or cpu and the processor."""
    import torch  # here only: the promotion's own side never needs it

    if torch.cuda.is_available():
        return {"device": "cuda", "device_name": torch.cuda.get_device_name(0)}
    return {"device": "cpu", "device_name": platform.processor() or platform.machine()}


def pinned_inputs(
    model: str, version: str, champion_version: str | None, policy_path: str, eval_data: str | None
) -> PromotionInputs:
    """The inputs of the promotion being judged: the same candidate and champion versions, whatever the alias says
    by now."""
    policy = policy_for(policy_path, model)
    c = client()
    champion = registry.resolve_version(c, policy.model_name, champion_version) if champion_version else None
    versions = Versions(registry.resolve_version(c, policy.model_name, version), champion)
    return load(policy_path, model, version, eval_data, versions)


def check_same(inputs: PromotionInputs, judged: dict[str, str | None]) -> None:
    """BadInputError naming each part of the evaluation key (but the registry's address) that differs here."""
    mine = {k: v for k, v in key_parts(inputs).items() if k != "registry"}
    differ = sorted(k for k in set(mine) | set(judged) if mine.get(k) != judged.get(k))
    if differ:
        raise BadInputError(
            f"the inputs on this worker differ from the promotion's in: {', '.join(differ)} (the same policy, data, "
            "model versions and modelgate code must be reachable here)"
        )


@task(name="judge-placed-gates", cache_policy=NO_CACHE)
def judge_placed_task(
    model: str,
    version: str,
    champion_version: str | None,
    policy_path: str,
    eval_data: str | None,
    gates: list[str],
    judged: dict[str, str | None],
    flow_run_id: str,
) -> list[GateResult]:
    """Only `gates`, judged here; every result (errored ones too) kept under the run's key for the promotion."""
    wrong = sorted(set(gates) - set(PLACEABLE))
    if wrong or not gates:
        raise BadInputError(f"gates to judge here must be some of {', '.join(PLACEABLE)}, got {gates}")
    inputs = pinned_inputs(model, version, champion_version, policy_path, eval_data)
    try:
        check_same(inputs, judged)
        out_dir: Path = evidence_root() / "placed" / flow_run_id
        gate_run = run_gates(inputs, out_dir, skip=frozenset(g.name for g in GATES) - set(gates))
        here = {"worker": os.environ.get("PREFECT__WORKER_NAME"), "host": socket.gethostname(), **device()}
        results = [where_judged(r, here) for r in gate_run.results]
        evidence_store.store(placed_key(flow_run_id), model, GateRun(results, []), keep_errored=True)
        return results
    finally:
        inputs.cleanup()
