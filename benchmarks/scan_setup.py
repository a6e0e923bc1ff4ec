"""Set-up of benchmarks/scan_scale.py: a registry and ledger in the steady state, and one policy per model.

Through MLflow's REST API and the project's ledger writer: each registered model, its first version and that
version's ledger run, and at the end each champion alias. The other versions and ledger runs are copies of those
first rows (their own ids, times and tags) written into the server's SQLite database in one transaction: one by one
through the API they would take ~15 minutes on a 2-core machine.
"""

from __future__ import annotations

import sqlite3
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

LEDGER = "model-promotions"
ROOT = Path(__file__).resolve().parent.parent
DEMO_POLICY = ROOT / "configs" / "policies" / "adult-income.yaml"

Entry = tuple[int, dict[str, str], dict[str, str] | None]  # (version, its modelgate tags, its ledger run's tags)


def plan(name: str, index: int, versions: int) -> list[Entry]:
    """One model's versions. Every version is decided except 1 to 5 of the newest (cycling over the models), the
    oldest of those `stale` (judged against an old champion). Four decided versions were promoted in turn, the
    last of them (somewhere in the newer half, by model) is the champion; every other decided version was
    rejected."""
    count = 1 + index % 5
    decided = list(range(1, versions - count + 1))
    last = len(decided) // 2 + (index * 37) % (len(decided) - len(decided) // 2)
    promoted = {decided[round(k * last / 3)] for k in range(4)}
    prior: str | None = None
    out: list[Entry] = []
    for v in range(1, versions + 1):
        if v > len(decided):
            out.append((v, {"modelgate.outcome": "stale"} if v == len(decided) + 1 and count > 1 else {}, None))
            continue
        outcome = "promoted" if v in promoted else "rejected"
        decision = "promote" if v in promoted else "reject"
        after = str(v) if v in promoted else prior
        run = {"model": name, "version": str(v), "decision": decision, "outcome": outcome, "state": "final"}
        run |= {"trigger": "schedule", "policy_hash": "bench", "attempt_id": f"{name}-{v}"}
        run |= ({"prior_champion": prior} if prior else {}) | ({"champion_after": after} if after else {})
        out.append((v, {"modelgate.decision": decision, "modelgate.outcome": outcome}, _tags(run)))
        prior = after
    return out


def _tags(tags: dict[str, str]) -> dict[str, str]:
    return {f"modelgate.{k}": v for k, v in tags.items()}


def evidence() -> tuple[dict[str, float], dict[str, str], str]:
    """What a promotion logs on its ledger run besides tags, in size: the policy flattened into parameters (as
    tasks.ledger_evidence does), 96 gate metrics, and a note."""
    from tasks.policy_files import load_policy

    params: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            params[prefix[:250]] = str(value)[:6000]

    walk("", load_policy(DEMO_POLICY).model_dump(mode="json"))
    metrics = {f"gate{g}.measurement{m}.{k}": 0.5 + g / 100 for g in range(8) for m in range(4) for k in "abc"}
    note = "## modelgate decision\n\n" + "| gate | status | summary |\n|-|-|-|\n" * 20
    return metrics, params, note


def register(url: str, db: Path, models: int, versions: int, threads: int, heavy: bool) -> dict[str, list[str]]:
    """The registry and ledger of a steady state (see the module's docstring); returns model -> versions left to
    decide. Ledger runs carry their tags, and with `heavy` the parameters, metrics and note a promotion logs too.
    They are interleaved in time: version v of every model was decided before version v + 1 of any."""
    from mlflow import MlflowClient

    from tasks import ledger
    from tasks.mlflow_store import ensure_experiment

    c = MlflowClient(url)
    model_run = c.create_run(c.create_experiment("training")).info.run_id
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "MLmodel").write_text("flavors: {}\n")
        c.log_artifact(model_run, str(Path(tmp) / "MLmodel"), "model")
    source = f"{c.get_run(model_run).info.artifact_uri}/model"
    experiment = ensure_experiment(LEDGER)
    names = [f"scan-model-{i:03d}" for i in range(models)]
    plans = {name: plan(name, i, versions) for i, name in enumerate(names)}
    metrics, params, note = evidence()

    def first(name: str) -> str:
        c.create_registered_model(name)
        _, tags, run_tags = plans[name][0]
        entry = c.create_run(experiment, tags=run_tags, run_name=f"{name} v1").info.run_id
        if heavy:
            extra = {"mlflow.note.content": note}
            ledger.log_evidence(entry, metrics=metrics, params=params, evidence={}, texts={}, files=[], tags=extra)
        c.set_terminated(entry)
        ledger_tag = {"modelgate.ledger_run_id": entry}
        c.create_model_version(name, source, run_id=model_run, tags=tags | ledger_tag, await_creation_for=0)
        return entry

    with ThreadPoolExecutor(threads) as pool:
        templates = dict(zip(names, pool.map(first, names), strict=True))
    copy_rows(db, plans, templates)
    champions = {n: max(v for v, tags, _ in plans[n] if tags.get("modelgate.outcome") == "promoted") for n in names}
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda n: c.set_registered_model_alias(n, "champion", str(champions[n])), names))
    check(c, plans, champions, heavy)
    return {n: [str(v) for v, _, run in plans[n] if run is None] for n in names}


def check(c: Any, plans: dict[str, list[Entry]], champions: dict[str, int], heavy: bool) -> None:
    """The server shows every version, the copies' tags, and ledger runs for the decisions."""
    seen, token = 0, None
    while True:
        page = c.search_model_versions(max_results=10000, page_token=token)
        seen, token = seen + len(page), page.token
        if not token:
            break
    assert seen == sum(len(p) for p in plans.values()), seen
    name = max(plans)
    version, tags, _ = plans[name][-10]
    got = c.get_model_version(name, str(version)).tags
    assert {k: got[k] for k in tags} == tags and ("modelgate.ledger_run_id" in got) == bool(tags), got
    run = c.get_run(got["modelgate.ledger_run_id"]) if tags else None
    assert run is None or (run.info.status, run.data.tags["modelgate.version"]) == ("FINISHED", str(version))
    assert run is None or (len(run.data.params) > 100 and len(run.data.metrics) == 96) == heavy
    assert str(c.get_model_version_by_alias(name, "champion").version) == str(champions[name])


def copy_rows(db: Path, plans: dict[str, list[Entry]], runs: dict[str, str]) -> None:
    """Every version after the first, and its ledger run, as copies of the first's rows (see `register`)."""
    con = sqlite3.connect(db, timeout=60)
    try:
        start = 1000 + con.execute("SELECT max(start_time) FROM runs").fetchone()[0]
        with con:
            for index, (name, versions) in enumerate(plans.items()):
                run_row = _row(con, "runs", "run_uuid = ?", runs[name])
                run_tags = dict(con.execute("SELECT key, value FROM tags WHERE run_uuid = ?", (runs[name],)).fetchall())
                mv_row = _row(con, "model_versions", "name = ? AND version = 1", name)
                for v, tags, ledger_tags in versions[1:]:
                    if ledger_tags is not None:
                        run_id = uuid.uuid4().hex
                        at = start + v * len(plans) + index
                        row = {**run_row, "run_uuid": run_id, "name": f"{name} v{v}", "start_time": at, "end_time": at}
                        row["artifact_uri"] = run_row["artifact_uri"].replace(runs[name], run_id)
                        kept = {k: x for k, x in run_tags.items() if not k.startswith("modelgate.")}
                        _insert(con, "runs", row)
                        for key, value in {**kept, "mlflow.runName": row["name"], **ledger_tags}.items():
                            _insert(con, "tags", {"key": key, "value": value, "run_uuid": run_id})
                        for table in ("params", "metrics", "latest_metrics"):
                            _copy(con, table, runs[name], run_id)
                        tags = {**tags, "modelgate.ledger_run_id": run_id}
                    row = {**mv_row, "version": v, "creation_time": mv_row["creation_time"] + v}
                    _insert(con, "model_versions", {**row, "last_updated_time": row["creation_time"]})
                    for key, value in tags.items():
                        _insert(con, "model_version_tags", {"key": key, "value": value, "name": name, "version": v})
    finally:
        con.close()


def _copy(con: sqlite3.Connection, table: str, run_id: str, new_id: str) -> None:
    """The run's rows of `table` again, for the new run."""
    columns = [row[1] for row in con.execute(f"PRAGMA table_info({table})")]
    picked = ", ".join("?" if c == "run_uuid" else f'"{c}"' for c in columns)
    names = ", ".join(f'"{c}"' for c in columns)
    con.execute(f"INSERT INTO {table} ({names}) SELECT {picked} FROM {table} WHERE run_uuid = ?", (new_id, run_id))


def _row(con: sqlite3.Connection, table: str, where: str, *args: object) -> dict[str, Any]:
    cursor = con.execute(f"SELECT * FROM {table} WHERE {where}", args)
    return dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))


def _insert(con: sqlite3.Connection, table: str, row: dict[str, Any]) -> None:
    columns = ", ".join(f'"{k}"' for k in row)
    con.execute(f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * len(row))})", list(row.values()))


def write_policies(folder: Path, models: list[str]) -> None:
    """One policy per model: the demo's policy (every gate configured) with the model's name and absolute paths."""
    folder.mkdir()
    base = DEMO_POLICY.parent
    text = DEMO_POLICY.read_text().replace("../../data/", f"{(base / '../../data').resolve()}/")
    text = text.replace("../expectations/", f"{(base / '../expectations').resolve()}/")
    assert text.count("model_name: adult-income\n") == 1
    for model in models:
        (folder / f"{model}.yaml").write_text(text.replace("model_name: adult-income\n", f"model_name: {model}\n"))
