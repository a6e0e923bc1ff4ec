"""Run a Great Expectations suite on the eval rows, and build its Data Docs site (the gate's verdict is
gates.data_validation.judge_validation)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from gates.data_validation import GATE, Expectation, expectation_class_name, judge_validation, plain
from gates.policy import DataValidationGatePolicy
from gates.result import GateResult, errored


def check_expectation_types(expectations: Sequence[Expectation]) -> list[str]:
    """Names of expectation types that Great Expectations does not know."""
    import great_expectations.expectations as gxe

    return [e["type"] for e in expectations if not hasattr(gxe, expectation_class_name(e["type"]))]


def run_suite(frame: pd.DataFrame, expectations: Sequence[Expectation], docs_dir: Path | None) -> Any:
    """GX validation result for the suite on these rows; Data Docs HTML under docs_dir when given."""
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    name = f"eval-{uuid.uuid4().hex[:8]}"
    batch = (
        context.data_sources.add_pandas(name=name)
        .add_dataframe_asset(name="eval")
        .add_batch_definition_whole_dataframe("all")
    )
    suite = context.suites.add(gx.ExpectationSuite(name=name))
    for e in expectations:
        suite.add_expectation(getattr(gxe, expectation_class_name(e["type"]))(**e["kwargs"]))
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
    if docs_dir is None:
        return definition.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY")
    docs_dir.mkdir(parents=True, exist_ok=True)
    site = "modelgate_evidence"
    context.add_data_docs_site(
        site_name=site,
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=name,
            validation_definitions=[definition],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="docs", site_names=[site])],
            result_format={"result_format": "SUMMARY"},
        )
    )
    run = checkpoint.run(batch_parameters={"dataframe": frame})
    return next(iter(run.run_results.values()))


def result_rows(result: Any, max_examples: int = 5) -> list[dict[str, Any]]:
    """One plain row per expectation: type, column, success, unexpected share, examples."""
    rows = []
    for r in result.results:
        cfg = r.expectation_config
        res = r.result or {}
        row = {
            "expectation": cfg.type,
            "column": cfg.kwargs.get("column", ""),
            "success": bool(r.success),
            "unexpected_count": res.get("unexpected_count"),
            "unexpected_percent": res.get("unexpected_percent"),
            "observed_value": plain(res.get("observed_value")),
            "examples": [plain(v) for v in (res.get("partial_unexpected_list") or [])[:max_examples]],
        }
        if r.exception_info and r.exception_info.get("raised_exception"):
            row["error"] = str(r.exception_info.get("exception_message"))
        rows.append(row)
    return rows


def validate(
    frame: pd.DataFrame,
    expectations: Sequence[Expectation],
    policy: DataValidationGatePolicy,
    docs_dir: Path | None = None,
) -> GateResult:
    """Run the suite, keep its Data Docs, and judge; a GX failure is an errored gate."""
    try:
        result = run_suite(frame, expectations, docs_dir)
    except Exception as exc:
        return errored(GATE, exc, blocking=policy.blocking)
    files = (str(docs_dir / "index.html"),) if docs_dir is not None else ()
    return judge_validation(result_rows(result), dict(result.statistics), len(frame), policy, files)
