"""The robustness gate's step: each model's judging process attacks and perturbs the same rows; judged here."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gates import robustness, tensor_data
from gates.context import GateContext
from gates.data_validation import nullable_columns
from gates.policy import RobustnessGatePolicy
from gates.result import GateResult, GateStatus, errored
from tasks.judging_run import JudgingRun
from tasks.plots import robustness_plot


def sample_rows(rows: int, gate: RobustnessGatePolicy) -> np.ndarray:
    """A seeded sample of at most max_rows row indices (the same rows for candidate and champion)."""
    if rows <= gate.max_rows:
        return np.arange(rows)
    return np.sort(np.random.default_rng(gate.seed).choice(rows, gate.max_rows, replace=False))


def robustness_step(ctx: GateContext, run: JudgingRun, out_dir: Path) -> GateResult:
    """Attack and perturb candidate and champion on the same rows; judge; plot accuracy against epsilon."""
    gate = ctx.policy.gates.robustness
    idx = sample_rows(len(ctx.frame), gate)
    args = {
        "policy": gate.model_dump(mode="json"),
        "threshold": ctx.threshold,
        "task": ctx.task_name,
        "sigma": ctx.target_scale,
        "nullable": nullable_columns(ctx.schema.names, ctx.policy.gates.data_validation, ctx.reference),
    }
    shape = tensor_data.array_shape(ctx.frame)
    if shape is not None:  # array data: attacks in input units inside the valid range, image perturbations
        bounds = tensor_data.value_range(ctx.policy.eval_data.value_range, ctx.reference, ctx.frame, shape)
        args["array"] = {"shape": list(shape), "range": list(bounds)}
    labels = [label for label in run.copies if label == "candidate" or (ctx.champion and ctx.champion.usable)]
    for label in labels:
        judge = run.judge(label)
        args_for = {
            **args,
            "rows": judge.put_array("robustness-rows.npy", idx),
            "labels": judge.put_array("robustness-labels.npy", ctx.labels[idx]),
        }
        run.judge(label).send("robustness", **args_for)
    profiles: dict[str, robustness.RobustnessProfile] = {}
    attacked: dict[str, str] = {}
    for label in labels:
        reply = run.note(label, run.judge(label).receive(gate.timeout_s))
        version = run.copies[label].version
        if reply.timed_out:
            return GateResult(
                gate=robustness.GATE,
                status=GateStatus.FAILED,
                blocking=gate.blocking,
                summary=f"the {label} v{version}'s robustness checks timed out after {gate.timeout_s:g} s",
            )
        if not reply.ok:
            return errored(robustness.GATE, f"{label} v{version}: {reply.error}", blocking=gate.blocking)
        profiles[label] = robustness.RobustnessProfile(**reply.data["profile"])
        attacked[label] = reply.data.get("attacked", "")
    result = robustness.judge(profiles["candidate"], profiles.get("champion"), gate)
    result = result.model_copy(update={"details": {**result.details, "attacked_view": attacked}})
    cand = profiles["candidate"]
    if cand.white_box:
        champ = profiles.get("champion")
        plot = robustness_plot(cand.white_box, None if champ is None else champ.white_box, out_dir / "robustness.png")
        result = result.model_copy(update={"report_files": (*result.report_files, str(plot))})
    return result
