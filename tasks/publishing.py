"""Publishing an outcome: the one-page report, the markdown summary, Prefect artifacts, the flow run's
name and tags, and a Prefect event per decision that automations can act on."""

from __future__ import annotations

from pathlib import Path

from gates.names import EVENT_PREFIX
from gates.outcome import PromotionOutcome
from gates.registry import report_order
from gates.report_format import decision_line, gate_tables, markdown_text, summary_markdown
from tasks.acting import Presentation
from tasks.evidence import evidence_root
from tasks.inputs import PromotionInputs
from tasks.links import mlflow_run_link, prefect_run_link, report_link
from tasks.report_page import render_report


def artifact_key(*parts: str) -> str:
    """A Prefect artifact key (lowercase letters, digits, dashes)."""
    raw = "-".join(parts).lower()
    return "".join(ch if ch.isalnum() and ch.isascii() else "-" for ch in raw).strip("-")[:100]


def local_report_path(outcome: PromotionOutcome) -> Path:
    """Where the CLI leaves a copy of the report on this machine."""
    attempt = outcome.flow_run_id or outcome.ledger_run_id or "dry-run"
    return evidence_root() / "reports" / outcome.model / f"v{outcome.version}" / f"{attempt}.html"


def links_for(outcome: PromotionOutcome, experiment: str) -> dict[str, str]:
    """Links a remote reviewer can follow (no paths on a worker's disk)."""
    links: dict[str, str] = {}
    if outcome.ledger_run_id:
        links["MLflow ledger run"] = mlflow_run_link(outcome.ledger_run_id, experiment)
        links["report"] = report_link(outcome.ledger_run_id)
    prefect = prefect_run_link(outcome.flow_run_id)
    if prefect:
        links["Prefect flow run"] = prefect
    return links


def presentation(inputs: PromotionInputs, outcome: PromotionOutcome, run_id: str | None) -> Presentation:
    """Summary, report, MLflow description and decision line for an outcome."""
    with_run = outcome.model_copy(update={"ledger_run_id": run_id}) if run_id else outcome
    links = links_for(with_run, inputs.policy.ledger_experiment)
    rows = len(inputs.data.frame) if inputs.data.full is None else inputs.data.full.rows
    data = {"eval data": inputs.data.path, "rows": rows, "sha256": inputs.data.sha256[:12]}
    html = render_report(
        with_run, decided_at=outcome.decided_at or "", links=links, data_summary=data, policy=inputs.policy
    )
    summary = summary_markdown(with_run, links)
    line = decision_line(with_run) + (f" Report: {links['report']}" if "report" in links else "")
    return Presentation(
        summary=summary, html=html, note=run_note(summary), line=line, report_link=links.get("report", "")
    )


NOTE_LIMIT = 8000  # MLflow's longest tag value; longer notes are cut by MLflow with a warning
NOTE_CUT = "\n\n... (cut to fit the run's description; the whole summary is evidence/summary.md)"


def run_note(summary: str) -> str:
    """The ledger run's description: the summary, cut to fit MLflow's tag limit with a pointer to the whole."""
    return summary if len(summary) <= NOTE_LIMIT else summary[: NOTE_LIMIT - len(NOTE_CUT)] + NOTE_CUT


def write_local_report(outcome: PromotionOutcome, html: str) -> Path:
    """Keep a copy of the report on this machine; returns its path."""
    path = local_report_path(outcome)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html)
    return path


def publish_prefect(outcome: PromotionOutcome, summary: str, links: dict[str, str]) -> list[str]:
    """Summary artifact (decision first), a table per gate (failing gates first), and the report link."""
    from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

    model, version = outcome.model, outcome.version
    keys = [artifact_key("promotion", model, "v" + version)]
    create_markdown_artifact(key=keys[0], markdown=summary, description=decision_line(outcome)[:500])
    for result in report_order(list(outcome.gates)):
        for suffix, rows in gate_tables(result).items():
            if not rows:
                continue
            key = artifact_key("gate", result.gate, *([suffix] if suffix else []), model, "v" + version)
            title = markdown_text(
                f"{result.gate}{' / ' + suffix if suffix else ''}: {result.status.value}: {result.summary}"
            )
            create_table_artifact(key=key, table=rows, description=title[:1000])
            keys.append(key)
    target = links.get("report")
    if target and target.startswith("http"):
        key = artifact_key("report", model, "v" + version)
        create_link_artifact(key=key, link=target, link_text=f"One-page report for {model} v{version}")
        keys.append(key)
    return keys


def name_and_tag_run(outcome: PromotionOutcome) -> None:
    """Rename the flow run '<model> v<N>: <outcome>' and tag it model:, version:, outcome:."""
    from prefect.client.orchestration import get_client
    from prefect.runtime import flow_run

    if not flow_run.id:
        return
    tags = sorted(
        {
            *(flow_run.tags or []),
            f"model:{outcome.model}",
            f"version:{outcome.version}",
            f"outcome:{outcome.outcome.value}",
        }
    )
    with get_client(sync_client=True) as c:
        c.update_flow_run(flow_run.id, name=f"{outcome.model} v{outcome.version}: {outcome.outcome.value}", tags=tags)


def emit_decision_event(outcome: PromotionOutcome, links: dict[str, str]) -> None:
    """`modelgate.promotion.<outcome>` with the model and version as the resource."""
    from prefect.events import emit_event

    emit_event(
        event=f"{EVENT_PREFIX}promotion.{outcome.outcome.value}",
        resource={
            "prefect.resource.id": f"modelgate.model.{outcome.model}.v{outcome.version}",
            "prefect.resource.name": f"{outcome.model} v{outcome.version}",
            "modelgate.model": outcome.model,
            "modelgate.version": outcome.version,
            "modelgate.outcome": outcome.outcome.value,
        },
        payload={
            "decision": outcome.decision.verdict.value,
            "reasons": list(outcome.decision.reasons),
            "champion_before": outcome.champion_before,
            "champion_after": outcome.champion_after,
            "ledger_run_id": outcome.ledger_run_id,
            "links": links,
        },
    )
