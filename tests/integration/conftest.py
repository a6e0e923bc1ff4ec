"""A template MLflow registry with the demo's three versions, built once and copied per test."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

MODEL = "adult-income"
EVIDENCE_CACHE = "modelgate-evidence-cache"
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
        return {
            "versions": versions,
            "descriptions": {str(mv.version): mv.description for mv in c.search_model_versions(f"name='{model}'")},
            "ledger_runs": self.run_ids("model-promotions"),
            "evidence_cache_runs": self.run_ids(EVIDENCE_CACHE),
        }

    def run_ids(self, experiment: str) -> list[str]:
        """The ids of every run in the experiment (none when it does not exist)."""
        c = self.client()
        exp = c.get_experiment_by_name(experiment)
        return [] if exp is None else sorted(r.info.run_id for r in c.search_runs([exp.experiment_id]))

    def modelgate_tags(self, version: str, model: str = MODEL) -> dict[str, str]:
        """The version's `modelgate.*` decision tags (not the files' stamp, which stays from the first decision)."""
        from tasks.registry import STAMP_TAGS

        tags = self.client().get_model_version(model, version).tags
        return {k: v for k, v in tags.items() if k.startswith("modelgate.") and k not in STAMP_TAGS}

    def description(self, version: str, model: str = MODEL) -> str:
        """The version's description."""
        return self.client().get_model_version(model, version).description or ""

    def set_status(self, version: str, status: str, model: str = MODEL) -> None:
        """Force a version's registry status (e.g. PENDING_REGISTRATION) in the store itself."""
        with sqlite3.connect(self.db) as conn:
            conn.execute("UPDATE model_versions SET status=? WHERE name=? AND version=?", (status, model, int(version)))


TEMPLATE_CACHE = ROOT / ".modelgate" / "test-cache"
TEMPLATE_INPUTS = ("demo/*.py", "tasks/demo_models.py", "data/uci-adult/*")


def template_key() -> str:
    """What the template registry is built from: the demo's model code, candidates and data, and the library
    versions."""
    import mlflow
    import pandas
    import torch

    from flows.demo import DEMO_CANDIDATES

    digest = hashlib.sha256(
        f"{sys.version_info[:3]} {mlflow.__version__} {torch.__version__} {pandas.__version__}".encode()
    )
    digest.update(repr(DEMO_CANDIDATES).encode())
    for path in sorted(p for pattern in TEMPLATE_INPUTS for p in ROOT.glob(pattern)):
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def build_template(root: Path) -> None:
    """Train and register the demo's seven versions into root/mlflow.db (artifacts under root)."""
    import mlflow

    from demo.adult_data import load_train
    from flows.demo import DEMO_CANDIDATES
    from tasks.demo_models import log_adult_model

    root.mkdir(parents=True)
    previous = mlflow.get_tracking_uri(), os.environ.get("MODELGATE_ARTIFACT_ROOT")
    os.environ["MODELGATE_ARTIFACT_ROOT"] = (root / "artifacts").as_uri()
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    try:
        train = load_train()
        for label, config, description in DEMO_CANDIDATES:
            log_adult_model(MODEL, label, config, train, description)
    finally:
        mlflow.set_tracking_uri(previous[0])
        if previous[1] is None:
            os.environ.pop("MODELGATE_ARTIFACT_ROOT", None)
        else:
            os.environ["MODELGATE_ARTIFACT_ROOT"] = previous[1]


@pytest.fixture(scope="session")
def template_registry(session_tmp: Path, prefect_harness) -> Path:
    """The demo's seven versions, trained once and kept in .modelgate/test-cache under a key of the demo's
    code, data and library versions (MODELGATE_FRESH_TEMPLATE=1 trains them for this session only).
    Tests never write to it: each one gets a copy (the `registry` fixture)."""
    if os.environ.get("MODELGATE_FRESH_TEMPLATE") == "1":
        build_template(session_tmp / "template")
        return session_tmp / "template" / "mlflow.db"
    root = TEMPLATE_CACHE / f"template-{template_key()}"
    TEMPLATE_CACHE.mkdir(parents=True, exist_ok=True)
    with (TEMPLATE_CACHE / f"{root.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session building the same template: wait for it
        if not (root / "complete").is_file():
            shutil.rmtree(root, ignore_errors=True)
            build_template(root)
            (root / "complete").write_text("built\n")
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
    from tasks.mlflow_store import ensure_experiment

    mlflow.set_experiment(experiment_id=ensure_experiment("test-models"))  # models a test logs: under tmp_path
    return Registry(uri=uri, db=db, root=tmp_path)


@contextmanager
def private_registry(root: Path) -> Iterator[None]:
    """MLflow on SQLite in `root` (tracking, registry and artifacts), a training experiment set, for the block."""
    import mlflow

    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.setenv("MODELGATE_ARTIFACT_ROOT", (root / "artifacts").as_uri())
        mlflow.set_tracking_uri(uri)
        training = mlflow.MlflowClient(uri).create_experiment(
            "training", artifact_location=(root / "artifacts" / "training").as_uri()
        )
        mlflow.set_experiment(experiment_id=training)
        yield


@pytest.fixture
def full_demo_policy() -> str:
    """The demo policy as shipped, every gate on."""
    return str(DEMO_POLICY)


@pytest.fixture
def demo_policy(tmp_path: Path) -> str:
    """The demo policy without the integration gate (its scoring server costs ~10 s a promotion; that gate
    has tests of its own with full_demo_policy), and with a 10 ms latency SLO instead of 1 ms: on a busy
    shared CPU a sound model's p95 can pass 1 ms (the latency gate's own tests keep the 1 ms SLO)."""
    return write_demo_policy(tmp_path / "demo-policy.yaml", slo_ms=10.0)


# Fewer resamples, attacked rows and timed calls than the demo: the same decisions in a third of the time.
TEST_EFFORT = [
    (
        "bootstrap: {resamples: 1000, confidence: 0.95, seed: 0}",
        "bootstrap: {resamples: 300, confidence: 0.95, seed: 0}",
    ),
    (
        "bootstrap: {resamples: 500, confidence: 0.95, seed: 0}",
        "bootstrap: {resamples: 200, confidence: 0.95, seed: 0}",
    ),
    ("    max_rows: 2000", "    max_rows: 1000"),
    ("    iterations: 100", "    iterations: 40"),
]


def write_demo_policy(path: Path, slo_ms: float | None = None) -> str:
    """The demo policy without the integration gate, with the test effort; `slo_ms` replaces its 1 ms SLOs."""
    text = absolute_paths(DEMO_POLICY.read_text(), str(DEMO_POLICY))
    changes = [("  integration:\n", "  integration:\n    enabled: false\n"), *TEST_EFFORT]
    if slo_ms is not None:
        changes.append(("slo_p95_ms: {1: 1.0, 64: 1.0}", f"slo_p95_ms: {{1: {slo_ms}, 64: {slo_ms}}}"))
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text)
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


def promote(version: str, policy: str, model: str = MODEL, **options: object):
    """Run the promotion flow; returns its PromotionOutcome (BadInputError and the like are raised)."""
    from flows.promote import promote as run_flow

    return run_flow(model=model, version=version, policy_path=policy, **options)


def gate(outcome, name: str):
    """One gate's result in an outcome."""
    (found,) = [g for g in outcome.gates if g.gate == name]
    return found


def flow_run_state(flow_run_id: str) -> tuple[str, str]:
    """(state type, state name) a flow run ended in."""
    from uuid import UUID

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        state = client.read_flow_run(UUID(flow_run_id)).state
    return state.type.value, state.name


def decided_tags(outcome) -> dict[str, str]:
    """Exactly the tags a decided version carries."""
    return {
        "modelgate.decision": outcome.decision.verdict.value,
        "modelgate.outcome": outcome.outcome.value,
        "modelgate.ledger_run_id": outcome.ledger_run_id,
        "modelgate.report": outcome.report_links["report"],
    }


def decided_description(outcome, owner_text: str) -> str:
    """The version description after a decision: modelgate's line first, the owner's text kept below."""
    from gates.report_format import decision_line

    line = f"**modelgate**: {decision_line(outcome)} Report: {outcome.report_links['report']}"
    return f"{line}\n\n{owner_text}" if owner_text else line


def demo_description(label: str) -> str:
    """The description the demo registers a version with."""
    from flows.demo import DEMO_CANDIDATES

    (text,) = [t for name, _, t in DEMO_CANDIDATES if name == label]
    return text


@contextmanager
def judging(policy: str, version: str, out_dir: Path, model: str = MODEL) -> Iterator[tuple]:
    """(GateContext with both models' scores, JudgingRun): one attempt's inputs on the judging side, for calling
    one gate's step; the processes and model copies are removed after."""
    from tasks.gate_runner import context_of
    from tasks.inputs import load
    from tasks.judging_run import JudgingRun

    inputs = load(policy, model, version)
    run = JudgingRun(inputs, out_dir)
    try:
        scores = run.score_all(inputs.policy.gates.evaluation.timeout_s)
        yield context_of(inputs).with_scores(scores["candidate"], scores.get("champion")), run
    finally:
        run.close()
        inputs.cleanup()


def _all_gates() -> tuple[str, ...]:
    from gates.registry import GATES

    return tuple(g.name for g in GATES if g.name != "evaluation")


ALL_GATES = _all_gates()


def write_policy(path: Path, *, gates_on: tuple[str, ...] = (), **sections: object) -> str:
    """The demo policy with only the evaluation gate (plus `gates_on`) and extra top-level `sections`."""
    import yaml

    data = yaml.safe_load(absolute_paths(DEMO_POLICY.read_text(), str(DEMO_POLICY)))
    data["gates"]["evaluation"]["bootstrap"]["resamples"] = 300
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


@contextmanager
def built_once(factory: pytest.TempPathFactory, name: str) -> Iterator[tuple[Path, bool]]:
    """A folder shared by this run's xdist workers, held under a lock: (folder, whether it still needs
    building). The caller builds it when asked to; a failed build leaves it to be built again."""
    base = factory.getbasetemp()
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    shared = base.parent if worker and base.name == f"popen-{worker}" else base  # the run's folder, not older runs
    folder = shared / name
    with (shared / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker building it: wait for it
        done = folder / ".complete"
        if not done.is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True, exist_ok=True)
            yield folder, True
            done.write_text("built\n")
        else:
            yield folder, False


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory, prefect_server_api: str):
    """For the fault tests: a registry behind `mlflow server` with v1 champion, v2 better, v3 worse (built once
    per run, whichever worker needs it first; tests use copies)."""
    from tests.integration.faults import build_template, template_at

    with built_once(tmp_path_factory, "fault-template") as (root, build):
        return build_template(root, prefect_server_api) if build else template_at(root)


@pytest.fixture(scope="session")
def crowd_template(template, tmp_path_factory: pytest.TempPathFactory):
    """The fault template with four more good and four more worse versions."""
    from tests.integration.faults import Template, build_crowd

    with built_once(tmp_path_factory, "crowd-template") as (root, build):
        return build_crowd(template, root / "mlflow") if build else Template(root / "mlflow", template.policy)


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (Debian's package) driven by Playwright; skipped without one, except under CI=true."""
    try:
        from scripts.browser import chromium_path, open_browser
    except ImportError as exc:
        _missing_browser(f"playwright is not installed: {exc}")
    if chromium_path() is None:
        _missing_browser("no Chromium at /usr/bin/chromium or on PATH")
    with open_browser() as b:
        yield b


def _missing_browser(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must have a browser (make browser)")
    pytest.skip(f"{reason} (install it with `make browser`)")
