"""The scan's batched reads (scan_targets, tasks.scan_reads) against the one-model-at-a-time path they stand in for,
on a real MLflow registry (SQLite in tmp_path) with several models, more versions than one search page, and ledgers
that agree or not; small page sizes make every search page."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import mlflow
import pytest

from tasks import ledger, scan_reads, scan_steps
from tasks.mlflow_store import client
from tasks.policy_files import load_policy
from tasks.reconcile import reconcile
from tasks.scan_reads import AGREE, quoted
from tasks.scan_steps import ScanTargets, scan_targets, undecided_versions
from tasks.version_rows import VersionRow, search_rows
from tests.integration.conftest import private_registry, write_policy
from tests.integration.servers import mlflow_server

EXPERIMENT = "model-promotions"
OUTCOMES = ["rejected", "promoted", "rolled_back", "stale", "pending", None, "rejected", None]  # cycled over versions


def entry(model: str, version: str, decision: str, outcome: str, prior: str | None, after: str | None) -> None:
    """One finished ledger entry, written by the ledger's own functions."""
    tags = {"model": model, "version": version, "decision": decision, "prior_champion": prior, "trigger": "test"}
    run_id = ledger.open_entry(EXPERIMENT, uuid.uuid4().hex, tags, f"{model} v{version}")
    ledger.finalise(run_id, {"outcome": outcome, "champion_after": after})


def build(root: Path) -> dict[str, str]:
    """Six models of 13 versions each, their policies in `root` (file names unlike the models' names); returns model
    -> policy path. Their states:
    agrees: champion v2 promoted after v1, then a rollback from v5 back to v2, then rejections (ledger agrees);
    moved: champion moved by hand from the ledger's v2 to v4; running: an attempt left RUNNING;
    empty: no champion and no ledger entry; it's: a name with a quote, agrees; reborn: ledger entries older than the
    registered model (deleted and created again), no champion now."""
    c = client()
    source = f"{(root / 'artifacts').as_uri()}/model"
    policies = {}
    for name in ("agrees", "moved", "running", "empty", "it's", "reborn"):
        if name == "reborn":
            c.create_registered_model(name)
            entry(name, "1", "promote", "promoted", None, "1")
            c.delete_registered_model(name)
        c.create_registered_model(name)
        for v in range(1, 14):
            outcome = OUTCOMES[v % len(OUTCOMES)]
            c.create_model_version(name, source, tags={"modelgate.outcome": outcome} if outcome else {})
        policies[name] = write_policy(root / f"{uuid.uuid4().hex}.yaml", model_name=name)
    for name in ("agrees", "moved", "running", "it's"):
        entry(name, "1", "promote", "promoted", None, "1")
        entry(name, "2", "promote", "promoted", "1", "2")
        entry(name, "5", "promote", "promoted", "2", "5")
        entry(name, "5", "rollback", "rolled_back", "5", "2")
        entry(name, "7", "reject", "rejected", "2", "2")
        c.set_registered_model_alias(name, "champion", "2")
    c.set_registered_model_alias("moved", "champion", "4")
    tags = {"model": "running", "version": "8", "decision": "promote", "prior_champion": "2"}
    ledger.open_entry(EXPERIMENT, uuid.uuid4().hex, tags, "running v8")
    with sqlite3.connect(root / "mlflow.db") as db:  # a version still being registered is never undecided
        db.execute("UPDATE model_versions SET status='PENDING_REGISTRATION' WHERE name='agrees' AND version=13")
    return policies


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    for module, name, size in (
        (scan_reads, "VERSIONS_PAGE", 5),
        (scan_reads, "RUNS_PAGE", 2),
        (scan_reads, "MOVES_PAGE", 2),
        (scan_reads, "NAMES_PER_SEARCH", 2),
        (scan_steps, "PAGE", 4),
    ):
        monkeypatch.setattr(module, name, size)


def scanned(policy_dir: Path) -> ScanTargets:
    """scan_targets over every model, in a flow of its own."""
    from prefect import flow

    @flow
    def targets() -> ScanTargets:
        return scan_targets(None, str(policy_dir))

    return targets()


def test_batched_reads_find_what_the_model_by_model_path_finds(tmp_path, prefect_harness, small_pages):
    with private_registry(tmp_path):
        paths = build(tmp_path)
        policies = {name: load_policy(path) for name, path in paths.items()}
        scan = scanned(tmp_path)
        assert scan.targets == paths
        reads = scan.reads

        to_reconcile = {name for name, read in reads.items() if read.undecided is None}
        assert to_reconcile == {"moved", "running"}, reads
        assert reads["moved"].reason == "champion alias on 4, the ledger's champion is 2"
        assert reads["running"].reason == "1 unfinished attempt(s) in the ledger"
        for name in set(policies) - to_reconcile:
            assert reads[name].reason == AGREE
            assert reads[name].undecided == undecided_versions(policies[name]), name
        assert reads["agrees"].undecided == ["3", "4", "5", "7", "11", "12"]  # not 2 (champion), nor 13 (pending)
        assert reads["empty"].undecided == ["3", "4", "5", "7", "11", "12", "13"]

        # Reconcile writes something exactly where the reads said it must run.
        for name, policy in policies.items():
            found = reconcile(policy)
            assert (found.changed or bool(found.external)) == (name in to_reconcile), (name, found.lines())


def test_a_name_with_both_quote_characters_cannot_be_searched():
    assert (quoted("plain"), quoted("it's")) == ("'plain'", '"it\'s"')
    with pytest.raises(Exception, match="both quote characters"):
        quoted("""say "it's" """)


def test_the_scan_flow_reconciles_only_the_model_whose_champion_moved(tmp_path, prefect_harness, small_pages):
    from flows.scan import scan_registry

    with private_registry(tmp_path):
        c = client()
        folder = tmp_path / "policies"
        folder.mkdir()
        for name in ("quiet", "moved"):
            c.create_registered_model(name)
            for v in ("1", "2"):
                c.create_model_version(name, f"{(tmp_path / 'artifacts').as_uri()}/model")
                c.set_model_version_tag(name, v, "modelgate.outcome", "promoted" if v == "1" else "rejected")
            entry(name, "1", "promote", "promoted", None, "1")
            c.set_registered_model_alias(name, "champion", "1")
            write_policy(folder / f"{name}.yaml", model_name=name)
        c.set_registered_model_alias("moved", "champion", "2")  # by hand: the ledger knows nothing of it

        assert scan_registry(policy_dir=str(folder)) == []  # every version decided: nothing to start
        entries = ledger.history("quiet", EXPERIMENT) + ledger.history("moved", EXPERIMENT)
        assert [(e.model, e.outcome) for e in entries if e.decision != "promote"] == [("moved", "external_change")]
        assert str(c.get_registered_model("moved").aliases["champion"]) == "1"  # put back, as the policy says


def every_row(where: str) -> list[VersionRow]:
    """Every version matching `where`, five a page, as tasks.version_rows reads them."""
    rows, token = search_rows(client(), where, ["name ASC", "version_number ASC"], 5, None)
    while token:
        page, token = search_rows(client(), where, ["name ASC", "version_number ASC"], 5, token)
        rows += page
    return rows


@pytest.mark.slow
def test_versions_read_from_a_server_as_json_are_those_the_client_reads(tmp_path, prefect_harness, small_pages):
    with private_registry(tmp_path):
        paths = build(tmp_path)
        where = f"name IN ({', '.join(quoted(n) for n in sorted(paths))})"
        direct, reads = every_row(where), scanned(tmp_path).reads
    served = (tmp_path / "mlflow.db").as_posix()
    with mlflow_server(f"sqlite:///{served}", tmp_path / "served", tmp_path / "mlflow.log") as url:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("MLFLOW_TRACKING_URI", url)
            mlflow.set_tracking_uri(url)
            assert every_row(where) == direct
            assert scanned(tmp_path).reads == reads
    assert len(direct) == 6 * 13 and {r.status for r in direct} == {"READY", "PENDING_REGISTRATION"}
    assert {r.name for r in direct if r.tags} == set(paths)
