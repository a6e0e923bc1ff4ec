"""Gates placed on another work pool, for real on 127.0.0.1: a Prefect server, process work pools `cpu` (the
promotion) and `gpu` (latency and robustness), a named worker on each; then the gpu pool with no worker; then a
pool that does not exist."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from gates.outcome import Outcome
from tests.conftest import ROOT
from tests.integration.conftest import BASELINE, BRITTLE, MODEL, cli_env, promote, write_policy
from tests.integration.servers import BIN, base_env, call, prefect_worker

pytestmark = pytest.mark.slow

PROMOTE = "promote-model-version/promote-version"
JUDGE = "judge-placed-gates/gpu"
PLACED = ("robustness", "latency")


def command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """One of the venv's commands (prefect, modelgate) as a user runs it, from the project root."""
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def pools(prefect_server_api: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """From the project's prefect.yaml: promote-version on the `cpu` pool, judge-placed-gates/gpu on `gpu`."""
    spec = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())
    (promote_dep,) = [d for d in spec["deployments"] if d["name"] == "promote-version"]
    (judge_dep,) = [d for d in spec["deployments"] if d["entrypoint"] == "flows/judge_placed.py:judge_placed_gates"]
    promote_dep["work_pool"]["name"] = "cpu"
    promote_dep.pop("triggers")
    spec["deployments"] = [promote_dep, judge_dep]
    path = tmp_path_factory.mktemp("placement") / "prefect.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    env = base_env(PREFECT_API_URL=prefect_server_api, MODELGATE_PROJECT_DIR=str(ROOT))
    for pool in ("cpu", "gpu"):
        command(env, "prefect", "work-pool", "create", pool, "--type", "process")
    done = command(env, "prefect", "--no-prompt", "deploy", "--all", "--prefect-file", str(path))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return prefect_server_api


def placed_policy(path: Path, **placement: object) -> str:
    """Evaluation here; robustness and latency placed on `gpu`, at test effort, with a latency SLO that a loaded
    2-core machine meets (the brittle candidate fails robustness, and only robustness)."""
    data = yaml.safe_load(Path(write_policy(path, gates_on=PLACED)).read_text())
    data["gates"]["robustness"]["max_rows"] = 1000
    data["gates"]["latency"].update(
        batch_sizes=[1], iterations=40, slo_p95_ms={1: 100.0}, min_regression_ms=50.0, max_regression=9.0
    )
    data["placement"] = {"pools": dict.fromkeys(PLACED, "gpu"), **placement}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def runs_of(api: str, deployment: str) -> list[dict]:
    flow, name = deployment.split("/")
    dep = call("GET", f"{api}/deployments/name/{flow}/{name}")
    return call("POST", f"{api}/flow_runs/filter", {"deployments": {"id": {"any_": [dep["id"]]}}})


def ledger_gates(registry, version: str) -> dict[str, dict]:
    """Each gate's result as the version's ledger entry keeps it."""
    c = registry.client()
    exp = c.get_experiment_by_name("model-promotions")
    (run,) = [r for r in c.search_runs([exp.experiment_id]) if r.data.tags["modelgate.version"] == version]
    out = {}
    for info in c.list_artifacts(run.info.run_id, "evidence/gates"):
        result = json.loads(Path(c.download_artifacts(run.info.run_id, info.path)).read_text())
        out[result["gate"]] = result
    return out


def test_latency_and_robustness_judged_on_the_gpu_worker_join_the_decision(registry, pools, tmp_path):
    api = pools
    assert promote(BASELINE, write_policy(tmp_path / "quick.yaml")).outcome is Outcome.PROMOTED  # the champion
    policy = placed_policy(tmp_path / "placed.yaml")
    env = {**cli_env(registry, api), "MODELGATE_PROJECT_DIR": str(ROOT)}
    gpu_env = {**env, "MODELGATE_HOME": str(tmp_path / "gpu-home")}  # its own local state, as on another machine
    with (
        prefect_worker("cpu", env, tmp_path / "cpu.log", name="cpu-worker"),
        prefect_worker("gpu", gpu_env, tmp_path / "gpu.log", name="gpu-worker"),
    ):
        done = command(
            env, "modelgate", "trigger", "--model", MODEL, "--version", BRITTLE, "--policy", policy, "--timeout", "540"
        )
    logs = done.stdout + done.stderr + (tmp_path / "cpu.log").read_text() + (tmp_path / "gpu.log").read_text()
    assert done.returncode == 1, logs[-6000:]
    assert f"{MODEL} v{BRITTLE}: Rejected" in done.stdout

    (promotion,) = [r for r in runs_of(api, PROMOTE) if r["parameters"].get("policy_path") == policy]
    (placed,) = [r for r in runs_of(api, JUDGE) if r["parameters"]["policy_path"] == policy]
    assert promotion["labels"]["prefect.worker.name"] == "cpu-worker"
    assert placed["labels"]["prefect.worker.name"] == "gpu-worker"
    assert placed["state"]["type"] == "COMPLETED"
    assert placed["parameters"]["gates"] == list(PLACED)
    parent = call("GET", f"{api}/task_runs/{placed['parent_task_run_id']}")
    assert parent["flow_run_id"] == promotion["id"]  # a subflow run of the promotion

    gates = ledger_gates(registry, BRITTLE)
    assert {name: g["status"] for name, g in gates.items()} == {
        "evaluation": "passed",
        "robustness": "failed",
        "latency": "passed",
    }
    where = {"work_pool": "gpu", "worker": "gpu-worker", "host": socket.gethostname(), "flow_run_id": placed["id"]}
    for name in PLACED:
        details = gates[name]["details"]
        assert {k: details[k] for k in where} == where
        assert details["device"] == "cpu"
        assert details["placed_run"]["ran_s"] > 0
    assert "work_pool" not in gates["evaluation"]["details"]
    c = registry.client()
    exp = c.get_experiment_by_name("model-promotions")
    (entry,) = [r for r in c.search_runs([exp.experiment_id]) if r.data.tags["modelgate.version"] == BRITTLE]
    files = {a.path for a in c.list_artifacts(entry.info.run_id, "evidence/reports/robustness")}
    assert files == {"evidence/reports/robustness/robustness.png"}  # drawn on the gpu worker, kept with the decision
    assert str(c.get_model_version_by_alias(MODEL, "champion").version) == BASELINE
    timing = gates["latency"]["details"]["placed_run"]
    print(f"placed run: waited {timing['waited_s']} s for the gpu worker, ran {timing['ran_s']} s")


def test_a_gpu_pool_without_a_worker_errors_the_placed_gates_after_the_pickup_timeout(registry, pools, tmp_path):
    api = pools
    policy = placed_policy(tmp_path / "placed.yaml", pickup_timeout_s=10, timeout_s=120)
    env = cli_env(registry, api)
    started = time.monotonic()
    done = command(env, "modelgate", "promote", "--model", MODEL, "--version", BASELINE, "--policy", policy, "--json")
    took = time.monotonic() - started
    assert done.returncode == 1, done.stderr[-4000:]
    outcome = json.loads(done.stdout)
    gates = {g["gate"]: g for g in outcome["gates"]}
    assert {name: g["status"] for name, g in gates.items()} == {
        "evaluation": "passed",
        "robustness": "errored",
        "latency": "errored",
    }
    for name in PLACED:
        summary = f"{name} gate errored: no worker on work pool 'gpu' picked up the run within 10 s"
        assert gates[name]["summary"] == summary
        assert gates[name]["details"]["work_pool"] == "gpu"
    assert outcome["outcome"] == "rejected"
    (placed,) = [r for r in runs_of(api, JUDGE) if r["parameters"]["policy_path"] == policy]
    assert gates["latency"]["details"]["flow_run_id"] == placed["id"]
    state = call("GET", f"{api}/flow_runs/{placed['id']}")["state"]
    assert state["type"] == "CANCELLED"
    assert took < 240  # the flow ends; it never waits on a pool nobody serves


def test_a_placement_on_a_pool_that_does_not_exist_is_bad_input(registry, pools, tmp_path):
    api = pools
    policy = placed_policy(tmp_path / "placed.yaml")
    text = Path(policy).read_text().replace("latency: gpu", "latency: no-such-pool")
    Path(policy).write_text(text)
    before = registry.snapshot()
    done = command(
        cli_env(registry, api), "modelgate", "promote", "--model", MODEL, "--version", BASELINE, "--policy", policy
    )
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stderr.splitlines()[-1] == (
        f"error: placement: work pool 'no-such-pool' does not exist on the Prefect server at {api}"
    )
    assert registry.snapshot() == before
