"""The production recipe: PostgreSQL 15 behind both an `mlflow server` and a `prefect server`, the CLI
pointed at them over HTTP (the setup deployments/README.md documents)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tasks.registry import STAMP_TAGS
from tests.integration.conftest import MODEL, write_policy
from tests.integration.servers import BIN, base_env, has_postgres, mlflow_server, postgres, prefect_server

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not has_postgres(), reason="PostgreSQL 15 binaries not installed")]


def test_promotion_against_mlflow_server_and_prefect_server_on_postgres(tmp_path: Path, prefect_harness):
    import mlflow

    from demo.adult_data import load_train
    from flows.demo import BASELINE, FULL
    from tasks.demo_models import log_adult_model

    with postgres(tmp_path / "pg") as pg:
        with (
            mlflow_server(f"postgresql://{pg}/mlflow", tmp_path / "mlflow-artifacts", tmp_path / "mlflow.log") as ml,
            prefect_server(tmp_path / "prefect", f"postgresql+asyncpg://{pg}/prefect") as api,
        ):
            previous = mlflow.get_tracking_uri()
            mlflow.set_tracking_uri(ml)
            try:
                train = load_train()
                for label, config in (("baseline", BASELINE), ("full", FULL)):
                    log_adult_model(MODEL, label, config, train, f"{label} model for the recipe test")
            finally:
                mlflow.set_tracking_uri(previous)
            policy = write_policy(tmp_path / "policy.yaml")
            env = base_env(
                MLFLOW_TRACKING_URI=ml,
                PREFECT_API_URL=api,
                PREFECT_HOME=str(tmp_path / "client"),
                MODELGATE_HOME=str(tmp_path / "home"),
            )
            env.pop("MODELGATE_ARTIFACT_ROOT", None)  # the server decides where artifacts go

            outcomes = []
            for version in ("1", "2"):
                done = subprocess.run(
                    [str(BIN / "modelgate"), "promote", "--model", MODEL, "--version", version]
                    + ["--policy", policy, "--json", "--trigger", "recipe"],
                    env=env,
                    cwd=tmp_path,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                assert done.returncode == 0 and done.stdout.strip(), done.stdout[-2000:] + done.stderr[-3000:]
                assert done.stdout.lstrip().startswith("{"), done.stdout[:1000]
                outcomes.append(json.loads(done.stdout))
            history = subprocess.run(
                [str(BIN / "modelgate"), "history", "--model", MODEL, "--policy", policy, "--json"],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )

            assert history.returncode == 0, history.stderr[-3000:]
            from mlflow import MlflowClient

            c = MlflowClient(ml)
            assert str(c.get_model_version_by_alias(MODEL, "champion").version) == "2"
            assert str(c.get_model_version_by_alias(MODEL, "previous-champion").version) == "1"
            run_id = outcomes[1]["ledger_run_id"]
            run = c.get_run(run_id)
            assert run.info.artifact_uri.startswith("mlflow-artifacts:/")
            assert run.data.tags["modelgate.trigger"] == "recipe" and run.data.tags["modelgate.outcome"] == "promoted"
            decision = json.loads(
                Path(c.download_artifacts(run_id, "evidence/decision.json", str(tmp_path))).read_text()
            )
            assert decision["outcome"] == "promoted" and decision["ledger_run_id"] == run_id
            links = outcomes[1]["report_links"]
            run_page = f"{ml}/#/experiments/{run.info.experiment_id}/runs/{run_id}"
            assert links["MLflow ledger run"].startswith(run_page)
            assert links["report"].startswith(f"{run_page}/artifactPath/evidence/report.html")
            tags = c.get_model_version(MODEL, "2").tags
            assert {k: v for k, v in tags.items() if k.startswith("modelgate.") and k not in STAMP_TAGS} == {
                "modelgate.decision": "promote",
                "modelgate.outcome": "promoted",
                "modelgate.ledger_run_id": run_id,
                "modelgate.report": links["report"],
            }
            assert [e["version"] for e in json.loads(history.stdout)] == ["1", "2"]
            assert (tmp_path / "prefect" / "prefect.db").exists() is False  # Prefect's state is in PostgreSQL
