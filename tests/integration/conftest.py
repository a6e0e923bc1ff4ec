"""A template MLflow registry with the demo's three versions, built once and copied per test."""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

MODEL = "adult-income"
# Versions in the template registry, in DEMO_CANDIDATES order.
BASELINE, BIASED, BRITTLE, SLOW, INCONSISTENT, FULL, WORSE = "1", "2", "3", "4", "5", "6", "7"
DEMO_POLICY = ROOT / "configs" / "policies" / f"{MODEL}.yaml"


@dataclass
class Registry:
    """A per-test MLflow (SQLite in tmp_path) with the demo's versions (constants above)."""

    uri: str
    db: Path
    root: Path

    def client(self):
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.uri)

    def snapshot(self, model: str = MODEL) -> dict:
        """Everything a promotion could write: version tags, aliases, and ledger runs."""
        c = self.client()
        versions = {
            str(mv.version): (dict(mv.tags), sorted(mv.aliases)) for mv in c.search_model_versions(f"name='{model}'")
        }
        exp = c.get_experiment_by_name("model-promotions")
        runs = [] if exp is None else [r.info.run_id for r in c.search_runs([exp.experiment_id])]
        return {"versions": versions, "ledger_runs": runs}

    def set_status(self, version: str, status: str, model: str = MODEL) -> None:
        """Force a version's registry status (e.g. PENDING_REGISTRATION) in the store itself."""
        with sqlite3.connect(self.db) as conn:
            conn.execute("UPDATE model_versions SET status=? WHERE name=? AND version=?", (status, model, int(version)))


@pytest.fixture(scope="session")
def template_registry(session_tmp: Path, prefect_harness) -> Path:
    """Train and register the demo's three models once per session."""
    import mlflow

    from demo.adult_data import load_train
    from flows.demo import DEMO_CANDIDATES
    from tasks.demo_models import log_adult_model

    root = session_tmp / "template"
    root.mkdir()
    os.environ["MODELGATE_ARTIFACT_ROOT"] = (root / "artifacts").as_uri()
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    train = load_train()
    for label, config, description in DEMO_CANDIDATES:
        log_adult_model(MODEL, label, config, train, description)
    return root / "mlflow.db"


@pytest.fixture
def registry(template_registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
    """A private copy of the template registry, set as the tracking URI for this test."""
    import mlflow

    db = tmp_path / "mlflow.db"
    shutil.copy(template_registry, db)
    uri = f"sqlite:///{db}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MODELGATE_ARTIFACT_ROOT", (tmp_path / "artifacts").as_uri())
    mlflow.set_tracking_uri(uri)
    return Registry(uri=uri, db=db, root=tmp_path)


@pytest.fixture
def full_demo_policy() -> str:
    """The demo policy as shipped, every gate on."""
    return str(DEMO_POLICY)


@pytest.fixture
def demo_policy(tmp_path: Path) -> str:
    """The demo policy without the integration gate (its scoring server costs ~10 s a promotion);
    that gate has tests of its own with full_demo_policy."""
    text = absolute_paths(DEMO_POLICY.read_text(), str(DEMO_POLICY))
    assert "  integration:\n" in text
    path = tmp_path / "demo-policy.yaml"
    path.write_text(text.replace("  integration:\n", "  integration:\n    enabled: false\n"))
    return str(path)


def absolute_paths(policy_text: str, policy_path: str) -> str:
    """The demo policy's relative paths made absolute, so the text can be written elsewhere."""
    base = Path(policy_path).resolve().parent
    return policy_text.replace("../../data/", f"{(base / '../../data').resolve()}/").replace(
        "../expectations/", f"{(base / '../expectations').resolve()}/"
    )


def read_artifact(key: str, flow_run_id: str):
    """The artifact with this key written by this flow run (the harness is shared by the session)."""
    import asyncio
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    async def read():
        async with get_client() as client:
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    key=ArtifactFilterKey(any_=[key]), flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(flow_run_id)])
                )
            )

    found = asyncio.run(read())
    return found[0] if found else None


ALL_GATES = ("data_validation", "drift", "bias", "robustness", "latency", "integration")


def write_policy(path: Path, *, gates_on: tuple[str, ...] = (), **sections: object) -> str:
    """The demo policy with only the evaluation gate (plus `gates_on`) and extra top-level `sections`."""
    import yaml

    data = yaml.safe_load(absolute_paths(DEMO_POLICY.read_text(), str(DEMO_POLICY)))
    for gate in ALL_GATES:
        if gate not in gates_on:
            data["gates"].setdefault(gate, {})["enabled"] = False
    data.update(sections)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


@pytest.fixture
def quick_policy(tmp_path: Path) -> str:
    """The demo policy judged by the evaluation gate alone (seconds per promotion)."""
    return write_policy(tmp_path / "quick-policy.yaml")


@pytest.fixture(scope="session")
def prefect_server_api(session_tmp: Path) -> str:
    """A real `prefect server start` on 127.0.0.1 with its own PREFECT_HOME, for the whole session."""
    from tests.integration.servers import prefect_server

    with prefect_server(session_tmp / "prefect-server") as api:
        yield api


def cli_env(registry: Registry, api: str, **extra: str) -> dict[str, str]:
    """Environment for a `modelgate` subprocess against this registry and Prefect server."""
    from tests.integration.servers import base_env

    return base_env(
        MLFLOW_TRACKING_URI=registry.uri,
        MODELGATE_ARTIFACT_ROOT=(registry.root / "artifacts").as_uri(),
        MODELGATE_HOME=str(registry.root / "home"),
        PREFECT_API_URL=api,
        PREFECT_HOME=str(registry.root / "prefect-client"),
        PREFECT_LOGGING_LEVEL="INFO",
        **extra,
    )
