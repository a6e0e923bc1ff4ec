"""A run creation whose answer is lost, a dead or silent tracking server, and ten concurrent promotions of one
model, against real servers on 127.0.0.1 (tests/integration/faults.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.faults import (
    CHAMPION,
    EXTRA_GOOD,
    EXTRA_WORSE,
    GOOD,
    WORSE,
    Clock,
    Template,
    answer_lost,
    assert_agree,
    cli_env,
    fast_policy,
    finish,
    ledger_state,
    modelgate,
    promote_args,
    silent_socket,
    tracking,
    wait_for,
    whole_ledger,
)
from tests.integration.servers import call, free_port

pytestmark = pytest.mark.slow


def test_a_run_creation_sent_twice_leaves_one_run(template: Template, prefect_server_api: str, tmp_path: Path):
    from mlflow import MlflowClient

    from gates.names import EVIDENCE_CACHE_EXPERIMENT

    with tracking(template.copy(tmp_path / "mlflow")) as server, answer_lost(server.url) as proxy:
        clock = Clock()
        env = cli_env(proxy, prefect_server_api, tmp_path)
        code, out = finish(modelgate(promote_args(GOOD, template.policy), env, tmp_path))
        clock.lap("promotion")
        assert code == 0, out[-3000:]
        state = assert_agree(server.url, champion=GOOD, previous=CHAMPION)
        assert whole_ledger(state) == [(CHAMPION, "FINISHED", "promoted"), (GOOD, "FINISHED", "promoted")]
        c = MlflowClient(server.url)
        cache = c.get_experiment_by_name(EVIDENCE_CACHE_EXPERIMENT)
        left = [r.info.run_id for r in c.search_runs([cache.experiment_id]) if r.info.status == "RUNNING"]
        assert left == []
    print(f"answer to a run creation lost: {clock}")


@pytest.mark.parametrize("server", ["down", "silent"])
def test_unusable_server_fails_fast_before_writing(server: str, prefect_server_api: str, tmp_path: Path):
    policy = fast_policy(tmp_path / "policy.yaml")
    runs_before = call("POST", f"{prefect_server_api}/flow_runs/count", {})
    sock, port = silent_socket() if server == "silent" else (None, free_port())
    try:
        env = cli_env(f"http://127.0.0.1:{port}", prefect_server_api, tmp_path, MODELGATE_TRACKING_TIMEOUT_S="3")
        started = time.monotonic()
        code, out = finish(modelgate(promote_args(GOOD, policy), env, tmp_path), timeout=120)
        elapsed = time.monotonic() - started
    finally:
        if sock is not None:
            sock.close()
    print(f"server {server}: promote exited after {elapsed:.1f} s")
    lines = [line for line in out.strip().splitlines() if line.strip()]
    assert code == 5 and len(lines) == 1 and lines[0].startswith("error: tracking server"), out[-3000:]
    wanted = "did not answer within 3 s" if server == "silent" else "is unreachable"
    assert wanted in lines[0]
    assert elapsed < 60  # the 3 s bound plus the CLI's start-up on a loaded machine
    assert call("POST", f"{prefect_server_api}/flow_runs/count", {}) == runs_before
    assert not (tmp_path / "modelgate" / "evidence").exists()


def test_ten_concurrent_promotions_leave_one_champion(crowd_template: Template, prefect_server_api, tmp_path):
    good = [GOOD, *(str(4 + i) for i in range(EXTRA_GOOD))]
    worse = [WORSE, *(str(4 + EXTRA_GOOD + i) for i in range(EXTRA_WORSE))]
    with tracking(crowd_template.copy(tmp_path / "mlflow")) as server:
        env = cli_env(server.url, prefect_server_api, tmp_path, MODELGATE_RETRY_SECONDS="60")
        started = time.monotonic()
        procs, pauses = {}, {}
        for v in good + worse:  # each waits at `judging` until all ten read the champion: they truly overlap
            pauses[v] = tmp_path / "pause" / v
            barrier = {"MODELGATE_PAUSE_AT": "judging", "MODELGATE_PAUSE_DIR": str(pauses[v])}
            procs[v] = modelgate(promote_args(v, crowd_template.policy), {**env, **barrier}, tmp_path)
        for v in procs:
            wait_for(pauses[v] / "judging.reached", procs[v], timeout=600)
        for v in procs:
            (pauses[v] / "judging.go").touch()
        results = {v: finish(p, timeout=900) for v, p in procs.items()}
        print(f"10 concurrent promotions: {time.monotonic() - started:.1f} s")
        codes = {v: code for v, (code, _) in results.items()}
        state = ledger_state(server.url)

    winners = [v for v in good if codes[v] == 0]
    assert len(winners) == 1, {v: out[-1500:] for v, (_, out) in results.items()}
    assert sorted(codes[v] for v in good) == [0, 3, 3, 3, 3]  # the others: stale
    assert [codes[v] for v in worse] == [1] * 5  # rejected by evaluation
    attempts = [e for e in state["entries"] if e.version != CHAMPION]
    assert len(attempts) == 10 and all(e.status == "FINISHED" for e in state["entries"])
    assert {e.version: e.outcome for e in attempts} == {
        **{v: "stale" if v not in winners else "promoted" for v in good},
        **dict.fromkeys(worse, "rejected"),
    }
    assert state["aliases"] == {"champion": winners[0], "previous-champion": CHAMPION}
    assert state["of_record"] == winners[0]
