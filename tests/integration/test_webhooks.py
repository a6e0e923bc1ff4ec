"""Promotion on registry events, everything real on 127.0.0.1: `mlflow server` on SQLite delivering webhooks,
`modelgate receiver`, a Prefect server with the project's deployments and their event triggers, a worker."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import yaml
from cryptography.fernet import Fernet
from mlflow import MlflowClient

from gates.webhook_events import signature
from tests.conftest import ROOT
from tests.integration.conftest import BASELINE, FULL, MODEL, cli_env, write_policy
from tests.integration.servers import BIN, call, free_port, mlflow_server, prefect_worker, spawn, stop, wait_healthy

pytestmark = pytest.mark.slow

POOL = "modelgate"
PROMOTE = "promote-model-version/promote-version"
RECONCILE = "reconcile-model/reconcile-on-champion-move"
WEBHOOK_ENV = {
    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",  # the receiver is on 127.0.0.1
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",  # and speaks plain http
    "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": Fernet.generate_key().decode(),
}


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)


def deploy(env: dict[str, str], policy: str, folder: Path) -> None:
    """The project's prefect.yaml, schedules off, the triggers pointed at the test's policy."""
    spec = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())
    for deployment in spec["deployments"]:
        for schedule in deployment.get("schedules") or []:
            schedule["active"] = False
        for trigger in deployment.get("triggers") or []:
            trigger["parameters"]["policy_path"] = policy
    path = folder / "prefect.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    for pool in (POOL, "gpu"):  # gpu: the pool prefect.yaml places gates on (no worker serves it here)
        run(env, str(BIN / "prefect"), "work-pool", "create", pool, "--type", "process")
    done = run(env, str(BIN / "prefect"), "--no-prompt", "deploy", "--all", "--prefect-file", str(path))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def runs_of(api: str, deployment: str) -> list[dict]:
    flow, name = deployment.split("/")
    dep = call("GET", f"{api}/deployments/name/{flow}/{name}")
    return call("POST", f"{api}/flow_runs/filter", {"deployments": {"id": {"any_": [dep["id"]]}}})


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout} s")


def created(run: dict) -> float:
    return datetime.fromisoformat(run["created"].replace("Z", "+00:00")).timestamp()


def test_registry_events_start_promotions_and_reconciles(registry, prefect_server_api, tmp_path):
    api = prefect_server_api
    policies = tmp_path / "policies"
    policies.mkdir()
    policy = write_policy(policies / f"{MODEL}.yaml")
    with mlflow_server(registry.uri, tmp_path / "served", tmp_path / "mlflow.log", **WEBHOOK_ENV) as tracking:
        env = {**cli_env(registry, api, MODELGATE_PROJECT_DIR=str(ROOT)), "MLFLOW_TRACKING_URI": tracking}
        deploy(env, policy, tmp_path)
        port = free_port()
        url = f"http://127.0.0.1:{port}/mlflow"
        receiver_log = tmp_path / "receiver.log"
        modelgate = str(BIN / "modelgate")
        receiver = spawn([modelgate, "receiver", "--port", str(port), "--policy-dir", str(policies)], env, receiver_log)
        c = MlflowClient(tracking_uri=tracking, registry_uri=tracking)  # through the server, which delivers
        try:
            wait_healthy(f"http://127.0.0.1:{port}/health", receiver, receiver_log)
            c.create_registered_model("no-policy-model")
            for model in (MODEL, "no-policy-model"):
                done = run(env, modelgate, "webhooks", "install", "--model", model, "--url", url)
                assert done.returncode == 0, done.stderr
            for args, error in [
                (["--model", "nope", "--url", url], "error: registered model 'nope' not found"),
                (["--model", MODEL, "--url", "ftp://127.0.0.1/x"], "error: webhook URL 'ftp://127.0.0.1/x' is not"),
            ]:
                bad = run(env, modelgate, "webhooks", "install", *args)
                assert bad.returncode == 2 and bad.stderr.startswith(error), bad.stderr
            assert len(c.list_webhooks()) == 2  # the bad calls changed nothing
            listed = run(env, modelgate, "webhooks", "list")
            assert f"{MODEL}" in listed.stdout and f"{url}?model={MODEL}" in listed.stdout
            secrets = json.loads((registry.root / "home" / "webhooks" / "secrets.json").read_text())
            assert sorted(secrets) == sorted([MODEL, "no-policy-model"])
            assert (registry.root / "home" / "webhooks" / "secrets.json").stat().st_mode & 0o077 == 0

            with prefect_worker(POOL, env, tmp_path / "worker.log"):
                # A version registered through the server: its promotion starts with no scan and no CI call.
                source = c.get_model_version(MODEL, BASELINE)
                registered_at = time.time()
                logged = source.source.removeprefix("models:/")  # MLflow 3: the logged model's id
                new = c.create_model_version(MODEL, source.source, run_id=source.run_id, model_id=logged).version

                def ours() -> list[dict]:  # the session's Prefect server also holds other tests' runs
                    return [
                        r
                        for r in runs_of(api, PROMOTE)
                        if r["parameters"].get("version") == str(new) and r["parameters"].get("policy_path") == policy
                    ]

                started = wait_for(ours, 10, f"a promotion of v{new}")
                assert created(started[0]) - registered_at < 10
                assert started[0]["parameters"] == {
                    "model": MODEL,
                    "version": str(new),
                    "trigger": "webhook",
                    "policy_path": policy,
                }
                done = wait_for(
                    lambda: [r for r in ours() if r["state"]["type"] in ("COMPLETED", "FAILED")],
                    300,
                    "the promotion's end",
                )
                assert done[0]["state"]["name"] == "Promoted", (tmp_path / "worker.log").read_text()[-3000:]
                assert str(c.get_model_version_by_alias(MODEL, "champion").version) == str(new)

                # The champion moved by hand: reconcile runs for that model and records it (and puts it back).
                moved_at = time.time()
                c.set_registered_model_alias(MODEL, "champion", FULL)
                exp = c.get_experiment_by_name("model-promotions")

                def external() -> list:
                    return [
                        r
                        for r in c.search_runs([exp.experiment_id])
                        if r.data.tags.get("modelgate.outcome") == "external_change"
                    ]

                (entry,) = wait_for(external, 180, "an external_change ledger entry")
                assert entry.info.start_time / 1000 - moved_at < 180
                assert entry.data.tags["modelgate.trigger"] == "webhook"
                after = [
                    r
                    for r in runs_of(api, RECONCILE)
                    if created(r) >= moved_at - 1 and r["parameters"].get("policy_path") == policy
                ]
                assert after and {r["parameters"]["model"] for r in after} == {MODEL}
                assert created(min(after, key=created)) - moved_at < 10
                wait_for(
                    lambda: str(c.get_model_version_by_alias(MODEL, "champion").version) == str(new),
                    60,
                    "the champion put back",
                )

            # A model with a webhook but no policy: ignored, with a log line.
            c.create_model_version("no-policy-model", source.source, run_id=source.run_id, model_id=logged)
            wait_for(lambda: "no-policy-model: no usable policy" in receiver_log.read_text(), 30, "ignored")

            # Bad deliveries: refused, nothing emitted, each counted.
            emitted = httpx.get(f"http://127.0.0.1:{port}/health").json()["counts"]["emitted"]
            body = json.dumps(
                {"entity": "model_version", "action": "created", "data": {"name": MODEL, "version": BASELINE}}
            )
            delivery, now = str(uuid.uuid4()), str(int(time.time()))
            good = {
                "X-MLflow-Delivery-Id": delivery,
                "X-MLflow-Timestamp": now,
                "X-MLflow-Signature": signature(secrets[MODEL], delivery, now, body),
            }
            stale_at = str(int(time.time()) - 3600)
            cases = [
                ({}, 401),
                ({**good, "X-MLflow-Signature": signature("wrong", delivery, now, body)}, 401),
                ({**good, "X-MLflow-Timestamp": stale_at,
                  "X-MLflow-Signature": signature(secrets[MODEL], delivery, stale_at, body)}, 401),
            ]  # fmt: skip
            for headers, status in cases:
                answer = httpx.post(f"{url}?model={MODEL}", content=body, headers=headers)
                assert answer.status_code == status, answer.text
            # A well-signed delivery (of an alias modelgate ignores, so nothing starts), then its replay.
            staging = json.dumps(
                {"entity": "model_version_alias", "action": "created", "data": {"name": MODEL, "alias": "staging"}}
            )
            replay = {**good, "X-MLflow-Signature": signature(secrets[MODEL], delivery, now, staging)}
            first = httpx.post(f"{url}?model={MODEL}", content=staging, headers=replay)
            again = httpx.post(f"{url}?model={MODEL}", content=staging, headers=replay)
            assert (first.status_code, again.status_code) == (200, 409)
            counts = httpx.get(f"http://127.0.0.1:{port}/health").json()["counts"]
            assert counts["refused"] == 3 and counts["replayed"] == 1 and counts["emitted"] == emitted
            log = receiver_log.read_text()
            assert "refused (401): adult-income: wrong signature" in log
            assert "replayed (409)" in log
        finally:
            stop(receiver)
