"""The `modelgate` command line: promote, demo, history, champion-at, rollback, schema, check-policy."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from gates.names import POLICY_DIR, PROMOTE_DEPLOYMENT
from gates.outcome import STATE_EXIT_CODES, exit_help
from modelgate.environment import configure
from modelgate.runtime import flow_settings

EXIT_HELP = exit_help()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelgate",
        description="Promote or reject MLflow model versions through evidence gates, run as Prefect flows.",
        epilog=EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "promote",
        help="judge one model version and promote or reject it",
        epilog=EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, help="registered model name")
    p.add_argument("--version", required=True, help="model version number")
    p.add_argument("--policy", help="policy YAML (default: configs/policies/<model>.yaml)")
    p.add_argument("--eval-data", help="eval CSV/Parquet to use instead of the policy's (e.g. a fresh extract)")
    p.add_argument("--dry-run", action="store_true", help="run the gates and decide, but write nothing to MLflow")
    p.add_argument("--trigger", default="cli", help="recorded in the ledger (e.g. ci, schedule, manual)")
    p.add_argument(
        "--force",
        action="store_true",
        help="re-run every gate and record a new decision even if this candidate, champion, policy and data "
        "were already judged",
    )
    p.add_argument(
        "--reason",
        default="",
        help="why (recorded in the ledger); with --force, allows promoting a rolled-back version",
    )
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")

    k = sub.add_parser(
        "reconcile",
        help="make the registry and the ledger agree for a model (finish interrupted "
        "attempts, record champion moves made outside modelgate)",
    )
    k.add_argument("--model", required=True, help="registered model name")
    k.add_argument("--policy", help="policy YAML (default: configs/policies/<model>.yaml)")
    k.add_argument("--json", action="store_true", help="print what was found as JSON")

    sub.add_parser(
        "demo", help="train the demo models (UCI Adult; scikit-learn wine, diabetes, digits) and promote each in turn"
    )

    h = sub.add_parser("history", help="list every promotion attempt recorded for a model")
    h.add_argument("--model", required=True, help="registered model name")
    h.add_argument(
        "--policy", help="policy YAML whose ledger_experiment to read (default: the model's policy if present)"
    )
    h.add_argument("--json", action="store_true", help="print the entries as JSON")

    a = sub.add_parser("champion-at", help="which version was champion at a given time (from the ledger)")
    a.add_argument("--model", required=True, help="registered model name")
    a.add_argument("--time", required=True, help="ISO 8601 time (naive times are UTC), or 'now'")
    a.add_argument("--policy", help="policy YAML (default: configs/policies/<model>.yaml if present)")
    a.add_argument("--json", action="store_true", help="print the answer as JSON")

    r = sub.add_parser("rollback", help="move the champion alias back to an earlier champion (compare-and-set)")
    r.add_argument("--model", required=True, help="registered model name")
    r.add_argument("--to", help="version to restore (default: the champion the current one replaced)")
    r.add_argument("--policy", help="policy YAML (default: configs/policies/<model>.yaml)")
    r.add_argument("--by", help="who asks for the rollback (recorded in the ledger)")
    r.add_argument("--reason", default="", help="why (recorded in the ledger)")
    r.add_argument("--trigger", default="cli", help="recorded in the ledger")
    r.add_argument("--json", action="store_true", help="print the outcome as JSON")

    t = sub.add_parser(
        "trigger",
        help="run the promote deployment on the Prefect server (PREFECT_API_URL), wait, exit with the outcome's code",
        epilog=EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument("--model", required=True, help="registered model name")
    t.add_argument("--version", required=True, help="model version number")
    t.add_argument("--deployment", default=PROMOTE_DEPLOYMENT, help=f"deployment to run (default {PROMOTE_DEPLOYMENT})")
    t.add_argument("--policy", help="policy path as the worker sees it (default: the deployment's)")
    t.add_argument("--trigger", default="ci", help="recorded in the ledger")
    t.add_argument("--force", action="store_true", help="re-run the gates even if already decided")
    t.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the run (default 3600)")

    m = sub.add_parser(
        "manifest", help="print the KServe InferenceService recorded when the champion (or --version) was promoted"
    )
    m.add_argument("--model", required=True, help="registered model name")
    m.add_argument("--version", help="a promoted version (default: the champion of record)")
    m.add_argument("--policy", help="policy YAML (default: configs/policies/<model>.yaml if present)")

    w = sub.add_parser("webhooks", help="MLflow registry webhooks that start promotions (install, uninstall, list)")
    wsub = w.add_subparsers(dest="webhooks_command", required=True)
    wi = wsub.add_parser("install", help="register a model's webhook (new versions, alias changes) with a new secret")
    wi.add_argument("--model", required=True, help="registered model name")
    wi.add_argument("--url", required=True, help="the receiver's URL, e.g. https://hooks.example.com/mlflow")
    wu = wsub.add_parser("uninstall", help="delete a model's webhook and its secret")
    wu.add_argument("--model", required=True, help="registered model name")
    wsub.add_parser("list", help="modelgate's webhooks on the tracking server")

    rc = sub.add_parser("receiver", help="receive MLflow webhooks and emit Prefect events (PREFECT_API_URL)")
    rc.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    rc.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    rc.add_argument("--policy-dir", default=POLICY_DIR, help=f"where the models' policies are (default {POLICY_DIR})")
    rc.add_argument("--window", type=float, default=300, help="accepted clock difference in seconds (default 300)")

    s = sub.add_parser("schema", help="write the policy JSON schema")
    s.add_argument("--output", default="configs/policy.schema.json", help="where to write it ('-' for stdout)")

    c = sub.add_parser("check-policy", help="validate a policy file and print its hash")
    c.add_argument("path")
    return parser


@contextlib.contextmanager
def _stdout_to_stderr(enabled: bool) -> Iterator[None]:
    """With --json, keep stdout for the JSON alone (MLflow prints run links to stdout)."""
    if not enabled:
        yield
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    body = ["  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join([line, "  ".join("-" * w for w in widths), *body])


def _outcome_rows(outcomes: Sequence[object]) -> str:
    rows = []
    for o in outcomes:
        gates = ", ".join(f"{g.gate}={g.status.value}" for g in o.gates) or "-"  # type: ignore[attr-defined]
        links = o.report_links  # type: ignore[attr-defined]
        where = links.get("report") or links.get("local report") or "-"
        rows.append(
            [
                f"v{o.version}",
                o.decision.verdict.value,
                o.outcome.value,  # type: ignore[attr-defined]
                f"v{o.champion_after}" if o.champion_after else "-",
                gates,
                where,  # type: ignore[attr-defined]
            ]
        )
    return _table(rows, ["version", "decision", "outcome", "champion", "gates", "report"])


def _policy_path(args: argparse.Namespace) -> str:
    return args.policy or str(Path(POLICY_DIR) / f"{args.model}.yaml")


def _promote(args: argparse.Namespace) -> int:
    import mlflow

    from tasks.policy_files import load_policy
    from tasks.retrying import check_reachable

    policy_path = _policy_path(args)
    policy = load_policy(policy_path)  # a bad policy fails before MLflow or Prefect is touched
    check_reachable(mlflow.get_tracking_uri())
    if policy.approval.mode != "never" and not args.dry_run and not os.environ.get("PREFECT_API_URL"):
        print(
            f"note: the policy may ask for approval; without PREFECT_API_URL the run waits (up to "
            f"{policy.approval.timeout_s} s) on a temporary server that has no UI",
            file=sys.stderr,
        )
    from flows.promote import promote
    from tasks.inputs import preflight

    eval_data = str(Path(args.eval_data).resolve()) if args.eval_data else None
    preflight(policy_path, args.model, str(args.version), eval_data)
    if policy.placement.pools:
        from tasks.placement import check_placement

        check_placement(policy)  # the work pools it places gates on, before a flow run is created
    with flow_settings(), _stdout_to_stderr(args.json):
        outcome = promote(
            model=args.model,
            version=str(args.version),
            policy_path=policy_path,
            dry_run=args.dry_run,
            trigger=args.trigger,
            eval_data=eval_data,
            force=args.force,
            reason=args.reason,
        )
    if args.json:
        print(outcome.model_dump_json(indent=2))
    else:
        print(_outcome_rows([outcome]))
        for reason in outcome.decision.reasons:
            print(f"  - {reason}")
        for warning in outcome.warnings:
            print(f"  ! {warning}")
        if "local report" in outcome.report_links:
            print(f"Report: {outcome.report_links['local report']}")
        print(f"Prefect artifacts: promotion-{args.model.lower()}-v{outcome.version} (and a table per gate)")
    return outcome.exit_code


def _demo(_: argparse.Namespace) -> int:
    from flows.demo import demo

    with flow_settings():
        outcomes = demo()
    print()
    print(_outcome_rows(outcomes))
    print()
    print("Each attempt's one-page report is in the 'report' column (also logged to its MLflow ledger run as")
    print("evidence/report.html); `modelgate history --model adult-income` (or wine-cultivar,")
    print("diabetes-progression, digits-cnn) lists the ledger.")
    return 0


def _ledger_experiment(model: str, policy: str | None) -> str:
    """The policy's ledger experiment (the model's policy file if present, else the default)."""
    from tasks.policy_files import load_policy

    policy_path = Path(policy or Path(POLICY_DIR) / f"{model}.yaml")
    if policy or policy_path.is_file():
        return load_policy(policy_path).ledger_experiment
    return "model-promotions"


def _history(args: argparse.Namespace) -> int:
    from tasks.ledger import history

    experiment = _ledger_experiment(args.model, args.policy)
    entries = history(args.model, experiment)
    if args.json:
        print(json.dumps([{**e.__dict__, "time": e.time.isoformat()} for e in entries], indent=2))
        return 0
    if not entries:
        print(f"no promotion attempts recorded for {args.model!r} in experiment {experiment!r}")
        return 0
    rows = [
        [
            e.time.strftime("%Y-%m-%d %H:%M:%S"),
            f"v{e.version}",
            e.decision,
            e.outcome,
            ", ".join(f"{k}={v}" for k, v in sorted(e.gates.items())),
            e.approver or "-",
            f"v{e.prior_champion}" if e.prior_champion else "-",
            e.trigger,
            e.run_id,
        ]
        for e in entries
    ]
    print(
        _table(
            rows,
            [
                "time (UTC)",
                "version",
                "decision",
                "outcome",
                "gates",
                "approver",
                "prior champion",
                "trigger",
                "ledger run",
            ],
        )
    )
    return 0


def _champion_at(args: argparse.Namespace) -> int:
    from gates.champion_history import champion_at, champion_moves, parse_time
    from tasks.ledger import decisions

    when = parse_time(args.time)
    experiment = _ledger_experiment(args.model, args.policy)
    move = champion_at(champion_moves(decisions(args.model, experiment)), when)
    answer = {
        "model": args.model,
        "time": when.isoformat(),
        "champion": move.after if move else None,
        "since": move.time.isoformat() if move else None,
        "by": move.outcome if move else None,
        "ledger_run_id": move.ledger_run_id if move else None,
    }
    if args.json:
        print(json.dumps(answer, indent=2))
    elif move is None or move.after is None:
        print(f"{args.model}: no champion recorded at {when:%Y-%m-%d %H:%M:%S} UTC")
    else:
        print(
            f"{args.model}: v{move.after} was champion at {when:%Y-%m-%d %H:%M:%S} UTC "
            f"({move.outcome.replace('_', ' ')} at {move.time:%Y-%m-%d %H:%M:%S} UTC, ledger run {move.ledger_run_id})"
        )
    return 0


def _rollback(args: argparse.Namespace) -> int:
    policy_path = _policy_path(args)
    from flows.rollback import rollback
    from tasks.policy_files import policy_for
    from tasks.rollback_steps import plan_rollback

    policy = policy_for(policy_path, args.model)
    plan_rollback(policy, args.to)  # bad input fails here, before anything is written
    with flow_settings(), _stdout_to_stderr(args.json):
        outcome = rollback(
            model=args.model,
            to=args.to,
            policy_path=policy_path,
            trigger=args.trigger,
            requested_by=args.by,
            reason=args.reason,
        )
    print(outcome.model_dump_json(indent=2) if args.json else outcome.message)
    return outcome.exit_code


def _reconcile(args: argparse.Namespace) -> int:
    import mlflow

    from tasks.mlflow_store import client
    from tasks.policy_files import policy_for
    from tasks.registry import resolve_registered_model
    from tasks.retrying import check_reachable

    check_reachable(mlflow.get_tracking_uri())
    policy = policy_for(_policy_path(args), args.model)
    resolve_registered_model(client(), policy.model_name)  # an unknown model is bad input, before the flow
    from flows.reconcile import reconcile_model

    with flow_settings(), _stdout_to_stderr(args.json):
        found = reconcile_model(args.model, _policy_path(args))
    if args.json:
        print(json.dumps(found.__dict__, indent=2))
    else:
        print(f"{args.model}: champion v{found.champion}" if found.champion else f"{args.model}: no champion")
        for line in found.lines():
            print(f"  - {line}")
    return 0


def _trigger(args: argparse.Namespace) -> int:
    from gates.errors import BadInputError

    if not os.environ.get("PREFECT_API_URL"):
        raise BadInputError("trigger needs PREFECT_API_URL (the Prefect server the deployment lives on)")
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError

    params: dict[str, object] = {"model": args.model, "version": str(args.version), "trigger": args.trigger}
    if args.policy:
        params["policy_path"] = args.policy
    if args.force:
        params["force"] = True
    try:
        run = run_deployment(args.deployment, parameters=params, timeout=args.timeout, poll_interval=2)
    except ObjectNotFound:
        raise BadInputError(f"deployment {args.deployment!r} not found on {os.environ['PREFECT_API_URL']}") from None
    except PrefectHTTPStatusError as exc:
        detail = exc.response.json().get("detail", str(exc)) if exc.response is not None else str(exc)
        raise BadInputError(f"the server refused the run: {detail}") from None
    state = run.state
    name = state.name if state else "Unknown"
    print(f"{args.model} v{args.version}: {name}: {state.message if state else ''} (flow run {run.id})")
    if state is None or not state.is_final():
        print(f"error: flow run {run.id} still {name} after {args.timeout:g} s", file=sys.stderr)
        return 5
    return STATE_EXIT_CODES.get(name, 5)


def _schema(args: argparse.Namespace) -> int:
    from gates.policy import policy_json_schema

    text = json.dumps(policy_json_schema(), indent=2) + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}")
    return 0


def _check_policy(args: argparse.Namespace) -> int:
    from gates.policy import policy_hash
    from tasks.policy_files import load_policy

    policy = load_policy(args.path)
    print(f"{args.path}: valid policy for {policy.model_name!r}, hash {policy_hash(policy)}")
    return 0


def _webhooks(args: argparse.Namespace) -> int:
    from tasks import webhooks

    if args.webhooks_command == "install":
        done = webhooks.install(args.model, args.url)
        print(f"{done['model']}: webhook {done['webhook_id']} -> {done['url']} (secret in {webhooks.secrets_path()})")
    elif args.webhooks_command == "uninstall":
        print(f"{args.model}: {webhooks.uninstall(args.model)} webhook(s) deleted")
    else:
        rows = [[w["model"], w["webhook_id"], w["status"], w["url"], w["events"]] for w in webhooks.installed()]
        print(_table(rows, ["model", "webhook", "status", "url", "events"]) if rows else "no modelgate webhooks")
    return 0


def _receiver(args: argparse.Namespace) -> int:
    from tasks.webhook_receiver import serve

    serve(args.host, args.port, args.policy_dir, args.window)
    return 0


def _manifest(args: argparse.Namespace) -> int:
    from tasks.serving_evidence import recorded_manifest

    print(recorded_manifest(args.model, _ledger_experiment(args.model, args.policy), args.version), end="")
    return 0


COMMANDS = {
    "promote": _promote,
    "demo": _demo,
    "history": _history,
    "champion-at": _champion_at,
    "rollback": _rollback,
    "reconcile": _reconcile,
    "trigger": _trigger,
    "manifest": _manifest,
    "webhooks": _webhooks,
    "receiver": _receiver,
    "schema": _schema,
    "check-policy": _check_policy,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _parser().parse_args(argv)
    configure()
    from gates.errors import BadInputError, LockTimeout
    from tasks.retrying import TrackingUnavailable

    try:
        return COMMANDS[args.command](args)
    except BadInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (LockTimeout, TrackingUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 5
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # last resort: one line, distinct code
        print(f"error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return 5


if __name__ == "__main__":
    sys.exit(main())
