"""deployments/prefect.yaml for real: Prefect server, process work pool, worker, `prefect deployment run`;
concurrent promotions of one model; the registry scan. All on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from gates.outcome import Outcome
from tests.conftest import ROOT
from tests.integration.conftest import BASELINE, BRITTLE, FULL, MODEL, SLOW, WORSE, cli_env, promote, write_policy
from tests.integration.servers import BIN, call, prefect_worker

pytestmark = pytest.mark.slow

POOL = "modelgate"
PROMOTE = "promote-model-version/promote-version"


def prefect(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "prefect"), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def deployed(prefect_server_api: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The project's prefect.yaml deployed to the server (schedules switched off for the test)."""
    spec = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())
    for deployment in spec["deployments"]:
        for schedule in deployment.get("schedules") or []:
            schedule["active"] = False
    path = tmp_path_factory.mktemp("deploy") / "prefect.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    env = cli_env_bare(prefect_server_api)
    for pool in (POOL, "gpu"):  # gpu: the pool prefect.yaml places gates on (no worker serves it here)
        prefect(env, "work-pool", "create", pool, "--type", "process")
    done = prefect(env, "--no-prompt", "deploy", "--all", "--prefect-file", str(path))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return prefect_server_api


def modelgate(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    wait = ["--timeout", "240"] if args[0] == "trigger" else []
    return subprocess.run(
        [str(BIN / "modelgate"), *args, *wait],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def cli_env_bare(api: str) -> dict[str, str]:
    from tests.integration.servers import base_env

    return base_env(PREFECT_API_URL=api, MODELGATE_PROJECT_DIR=str(ROOT), PREFECT_LOGGING_LEVEL="INFO")


def flow_runs(api: str, deployment: str, state: str | None = None) -> list[dict]:
    flow, name = deployment.split("/")
    dep = call("GET", f"{api}/deployments/name/{flow}/{name}")
    body: dict = {"deployments": {"id": {"any_": [dep["id"]]}}}
    if state:
        body["flow_runs"] = {"state": {"type": {"any_": [state]}}}
    return call("POST", f"{api}/flow_runs/filter", body)


def test_ci_style_deployment_run_through_a_worker(registry, deployed, tmp_path):
    api = deployed
    policy = write_policy(tmp_path / "policy.yaml")
    env = {**cli_env(registry, api), "MODELGATE_PROJECT_DIR": str(ROOT)}

    before = registry.snapshot()
    missing = prefect(env, "deployment", "run", PROMOTE, "--param", 'version="1"')
    assert missing.returncode != 0
    assert "'model' is a required property" in " ".join((missing.stdout + missing.stderr).split())
    assert registry.snapshot() == before

    unknown = modelgate(env, "trigger", "--model", MODEL, "--version", "1", "--deployment", "nope/nope")
    assert unknown.returncode == 2 and "deployment 'nope/nope' not found" in unknown.stderr

    with prefect_worker(POOL, env, tmp_path / "worker.log"):
        params = ["--param", f'model="{MODEL}"', "--param", f'version="{BASELINE}"']
        promoted = prefect(
            env, "deployment", "run", PROMOTE, *params, "--param", f"policy_path={json.dumps(policy)}",
            "--watch", "--watch-interval", "1", "--watch-timeout", "240",
        )  # fmt: skip
        rejected = modelgate(env, "trigger", "--model", MODEL, "--version", WORSE, "--policy", policy)
    log = promoted.stdout + promoted.stderr + rejected.stderr + (tmp_path / "worker.log").read_text()
    assert promoted.returncode == 0 and "'Promoted'" in promoted.stdout, log[-4000:]
    assert rejected.returncode == 1 and f"v{WORSE}: Rejected" in rejected.stdout, log[-4000:]
    states = {
        r["parameters"]["version"]: (r["state"]["type"], r["state"]["name"])
        for r in flow_runs(api, PROMOTE)
        if r["parameters"].get("policy_path") == policy
    }
    assert states == {BASELINE: ("COMPLETED", "Promoted"), WORSE: ("FAILED", "Rejected")}
    c = registry.client()
    assert str(c.get_model_version_by_alias(MODEL, "champion").version) == BASELINE
    exp = c.get_experiment_by_name("model-promotions")
    runs = {r.data.tags["modelgate.version"]: r for r in c.search_runs([exp.experiment_id])}
    assert sorted(runs) == [BASELINE, WORSE]
    for version, outcome in ((BASELINE, "promoted"), (WORSE, "rejected")):
        tags = runs[version].data.tags
        assert tags["modelgate.trigger"] == "ci" and tags["modelgate.outcome"] == outcome
        assert runs[version].info.status == "FINISHED"
        recorded = registry.modelgate_tags(version)
        assert set(recorded) == {
            "modelgate.decision",
            "modelgate.outcome",
            "modelgate.ledger_run_id",
            "modelgate.report",
        }
        assert recorded["modelgate.outcome"] == outcome
        assert recorded["modelgate.ledger_run_id"] == runs[version].info.run_id


def test_promotions_started_at_once_end_with_one_champion(registry, prefect_server_api, tmp_path):
    """Three candidates that all beat v1, started together: one wins the lock's compare-and-set, the
    others see that the champion moved (by a promotion the ledger records, so no external change) and
    record `stale` rather than deciding against v1."""
    policy = write_policy(tmp_path / "policy.yaml")
    first = promote(BASELINE, policy)
    assert first.outcome is Outcome.PROMOTED
    env = cli_env(registry, prefect_server_api)
    procs = {
        v: subprocess.Popen(
            [str(BIN / "modelgate"), "promote", "--model", MODEL, "--version", v, "--policy", policy, "--json"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for v in (BRITTLE, SLOW, FULL)
    }
    results = {}
    for v, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert out.strip(), err[-3000:]
        results[v] = (proc.returncode, json.loads(out))
    winners = [v for v, (code, o) in results.items() if o["outcome"] == "promoted"]
    assert len(winners) == 1, {v: o["message"] for v, (_, o) in results.items()}
    (winner,) = winners
    assert results[winner][0] == 0
    c = registry.client()
    assert str(c.get_model_version_by_alias(MODEL, "champion").version) == winner
    for v, (code, o) in results.items():
        if v != winner:
            assert code == 3 and o["outcome"] == "stale" and o["champion_after"] == winner
    exp = c.get_experiment_by_name("model-promotions")
    ledger = [r for r in c.search_runs([exp.experiment_id]) if r.info.run_id != first.ledger_run_id]
    assert sorted((r.data.tags["modelgate.version"], r.data.tags["modelgate.outcome"]) for r in ledger) == sorted(
        (v, "promoted" if v == winner else "stale") for v in procs
    )
    assert all(r.data.tags["modelgate.prior_champion"] == BASELINE for r in ledger)
    assert all(r.data.tags["modelgate.decision"] == "promote" for r in ledger)  # none recorded a move from outside


def scan(env: dict[str, str], **params: object) -> subprocess.CompletedProcess:
    code = (
        "import json, sys; from flows.scan import scan_registry; "
        f"print(json.dumps([t.model_dump() for t in scan_registry(**json.loads({json.dumps(json.dumps(params))}))]))"
    )
    return subprocess.run(
        [str(BIN / "python"), "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def policy_folder(tmp_path: Path) -> Path:
    """A policy folder holding the quick demo policy, as the scan reads it."""
    folder = tmp_path / "policies"
    folder.mkdir()
    write_policy(folder / f"{MODEL}.yaml")
    return folder


def test_scan_triggers_exactly_the_undecided_versions(registry, deployed, tmp_path):
    api = deployed
    policy_dir = policy_folder(tmp_path)
    c = registry.client()
    source = c.get_model_version(MODEL, FULL)
    for _ in range(13):  # 20 versions in all
        c.create_model_version(MODEL, source.source, run_id=source.run_id)
    c.set_registered_model_alias(MODEL, "champion", BASELINE)
    decided = {"2": "rejected", "3": "promoted", "9": "rejected"}
    for version, outcome in decided.items():
        c.set_model_version_tag(MODEL, version, "modelgate.outcome", outcome)
    c.set_model_version_tag(MODEL, "4", "modelgate.outcome", "pending")  # still waits for a decision
    c.set_model_version_tag(MODEL, "5", "modelgate.outcome", "stale")  # judged against an old champion
    registry.set_status("20", "PENDING_REGISTRATION")
    expected = {str(v) for v in range(2, 20)} - set(decided)
    env = cli_env(registry, api)

    for run in flow_runs(api, PROMOTE, "SCHEDULED"):  # leftovers from other tests
        call("DELETE", f"{api}/flow_runs/{run['id']}")
    done = scan(env, models=[MODEL], policy_dir=str(policy_dir))
    assert done.returncode == 0, done.stderr[-3000:]
    triggered = json.loads(done.stdout.strip().splitlines()[-1])
    assert {t["version"] for t in triggered} == expected
    scheduled = flow_runs(api, PROMOTE, "SCHEDULED")
    assert sorted(r["parameters"]["version"] for r in scheduled) == sorted(expected)
    assert all(r["parameters"]["trigger"] == "schedule" for r in scheduled)
    for run in scheduled:  # no worker runs them here
        call("DELETE", f"{api}/flow_runs/{run['id']}")

    before = registry.snapshot()
    unknown = scan(env, models=["no-such-model"], policy_dir=str(policy_dir))
    assert unknown.returncode != 0
    assert "no policy for model 'no-such-model'" in unknown.stderr
    assert flow_runs(api, PROMOTE, "SCHEDULED") == [] and registry.snapshot() == before
