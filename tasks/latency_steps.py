"""Prefect task for the latency gate: pick what to time, time candidate and champion interleaved, judge."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import torch
from prefect import task
from prefect.cache_policies import NO_CACHE

from gates import latency, latency_core
from gates.policy import PromotionPolicy
from gates.result import GateResult, errored, skipped
from tasks.models import LoadedModel, Scores
from tasks.robustness_steps import torch_view


def _cycled(frame: pd.DataFrame, batch: int) -> pd.DataFrame:
    reps = -(-batch // len(frame))
    return pd.concat([frame] * reps, ignore_index=True).iloc[:batch]


def timing_targets(
    models: dict[str, LoadedModel], rows: pd.DataFrame, reference: pd.DataFrame
) -> tuple[dict[str, Callable], dict[str, Callable[[int], object]], str]:
    """Torch modules on encoded rows when every model has a torch view, else whole pyfunc predict() calls."""
    spaces = {name: torch_view(m, rows, reference)[0] for name, m in models.items()}
    if all(space is not None for space in spaces.values()):
        forwards = {name: space.forward for name, space in spaces.items()}
        makers = {
            name: (lambda b, x=space.x: x[torch.arange(b) % x.shape[0]].contiguous()) for name, space in spaces.items()
        }
        return forwards, makers, "torch module on encoded inputs"
    forwards = {name: (lambda df, m=m: m.predict(df)) for name, m in models.items()}
    makers = {name: (lambda b: _cycled(rows, b)) for name in models}
    return forwards, makers, "pyfunc predict() on DataFrame rows (CPU)"


@task(name="latency-gate", cache_policy=NO_CACHE)
def latency_gate(
    frame: pd.DataFrame,
    reference: pd.DataFrame | None,
    candidate: LoadedModel,
    candidate_scores: Scores,
    champion: LoadedModel | None,
    policy: PromotionPolicy,
) -> GateResult:
    """Time candidate and champion in this process, interleaved, over the policy's batch sizes."""
    gate = policy.gates.latency
    if candidate_scores.error:
        return skipped(latency.GATE, f"candidate could not be scored: {candidate_scores.error}", blocking=gate.blocking)
    device = latency_core.resolve_device(gate.device)
    note = ""
    if device != "cuda":
        final, note = latency.without_gpu(gate)
        if final is not None:
            return final
    rows = frame.sample(n=min(len(frame), 512), random_state=0).reset_index(drop=True)
    ref = reference if reference is not None else frame
    models = {"candidate": candidate, **({"champion": champion} if champion is not None else {})}
    previous_threads = torch.get_num_threads()
    try:
        forwards, makers, target = timing_targets(models, rows, ref)
        if target.startswith("pyfunc"):
            device = "cpu"
        if gate.threads:
            torch.set_num_threads(gate.threads)
        stats = latency_core.time_interleaved(
            forwards,
            makers,
            gate.batch_sizes,
            iterations=gate.iterations,
            warmup=gate.warmup,
            device=device,
            mode=gate.mode if target.startswith("torch") else "eager",
        )
    except Exception as exc:
        return errored(latency.GATE, exc, blocking=gate.blocking)
    finally:
        torch.set_num_threads(previous_threads)
    env = latency_core.environment(device) | {"timed": target, "threads": gate.threads or previous_threads}
    result = latency.judge_latency(stats["candidate"], stats.get("champion"), gate, env, note)
    return result.model_copy(update={"details": {**result.details, "timed": target}})
