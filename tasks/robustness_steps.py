"""Prefect task for the robustness gate: find a model's torch view, run attacks and perturbations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from prefect import task
from prefect.cache_policies import NO_CACHE

from gates import robustness
from gates.attacks import AttackSpace
from gates.policy import PromotionPolicy, RobustnessGatePolicy
from gates.result import GateResult, errored, skipped
from gates.scores import positive_scores
from tasks.models import LoadedModel, Scores
from tasks.plots import robustness_plot

NUMERIC_TYPES = ("long", "integer", "double", "float")


def torch_view(loaded: LoadedModel, frame: pd.DataFrame, reference: pd.DataFrame) -> tuple[AttackSpace | None, str]:
    """The model's differentiable view, or None with the reason white-box attacks cannot run.

    Supported: a python_function model whose python model offers torch_module(), encode(frame) and
    continuous_columns() (the demo's); a pytorch-flavour model with numeric named inputs (pt2 or pickle).
    """
    model = loaded.model
    impl = None
    try:
        impl = model.unwrap_python_model()
    except Exception:  # not a custom python model
        impl = None
    if impl is not None and all(hasattr(impl, a) for a in ("torch_module", "encode", "continuous_columns")):
        module, encode, continuous = impl.torch_module(), impl.encode, list(impl.continuous_columns())
    elif "pytorch" in model.metadata.flavors:
        module = model.get_raw_model()
        names = [c.name for c in loaded.columns]
        numeric = [c.name for c in loaded.columns if c.type in NUMERIC_TYPES]
        if numeric != names:
            return None, "the torch model takes non-numeric inputs; white-box attacks skipped, black-box only"

        def encode(df: pd.DataFrame) -> torch.Tensor:
            return torch.from_numpy(df[names].to_numpy(np.float32, copy=True))

        continuous = list(range(len(names)))
    else:
        return None, "the model exposes no torch module; white-box attacks skipped, black-box only"
    if not continuous:
        return None, "the model has no continuous inputs to perturb; white-box attacks skipped"
    x, ref = encode(frame).float(), encode(reference).float()
    scale = torch.zeros(x.shape[1])
    idx = torch.tensor(continuous)
    scale[idx] = ref[:, idx].std(dim=0).clamp_min(1e-12)
    lower = torch.full((x.shape[1],), -torch.inf)
    upper = torch.full((x.shape[1],), torch.inf)
    lower[idx] = torch.minimum(ref[:, idx].min(dim=0).values, x[:, idx].min(dim=0).values)
    upper[idx] = torch.maximum(ref[:, idx].max(dim=0).values, x[:, idx].max(dim=0).values)
    space = AttackSpace(forward=module, x=x, scale=scale, lower=lower, upper=upper)
    try:  # a module without gradients falls back to black-box
        probe = x[:2].clone().requires_grad_(True)
        out = module(probe)
        torch.autograd.grad(out.sum(), probe)
    except Exception as exc:
        return None, f"no gradients through the model ({type(exc).__name__}); white-box attacks skipped, black-box only"
    return space, ""


def profile(
    loaded: LoadedModel,
    frame: pd.DataFrame,
    y: np.ndarray,
    reference: pd.DataFrame,
    policy: PromotionPolicy,
) -> robustness.RobustnessProfile:
    """Clean accuracy, white-box robust accuracy (when possible) and black-box perturbation results."""
    gate = policy.gates.robustness
    threshold = policy.gates.evaluation.decision_threshold
    names = [c.name for c in loaded.columns]
    numeric = [c.name for c in loaded.columns if c.type in NUMERIC_TYPES]
    categorical = [c.name for c in loaded.columns if c.type == "string"]

    def predict(df: pd.DataFrame) -> np.ndarray:
        return positive_scores(loaded.predict(df), policy.model_output, len(df))

    stds = {c: float(reference[c].std()) for c in numeric if c in reference}
    categories = {c: sorted(reference[c].dropna().astype(str).unique().tolist()) for c in categorical if c in reference}
    nullable = [c for c in numeric if c in policy.gates.data_validation.allow_nulls]
    perturbed = robustness.perturbations(frame[names], numeric, categorical, stds, categories, gate, nullable)
    clean, black = robustness.black_box(predict, frame[names], y, threshold, perturbed)
    space, note = torch_view(loaded, frame[names], reference[names])
    white: dict[str, dict[str, float]] = {}
    if space is not None:
        white = robustness.white_box(space, y, gate)
    return robustness.RobustnessProfile(
        clean_accuracy=clean,
        white_box=white,
        white_box_note=note,
        black_box=black,
        device=robustness.pick_device(gate.device) if space is not None else "cpu",
    )


def sample_rows(frame: pd.DataFrame, y: np.ndarray, gate: RobustnessGatePolicy) -> tuple[pd.DataFrame, np.ndarray]:
    """A seeded sample of at most max_rows eval rows (the same rows for candidate and champion)."""
    if len(frame) <= gate.max_rows:
        return frame, y
    idx = np.random.default_rng(gate.seed).choice(len(frame), gate.max_rows, replace=False)
    idx.sort()
    return frame.iloc[idx].reset_index(drop=True), y[idx]


@task(name="robustness-gate", cache_policy=NO_CACHE)
def robustness_gate(
    frame: pd.DataFrame,
    y: np.ndarray,
    reference: pd.DataFrame | None,
    candidate: LoadedModel,
    candidate_scores: Scores,
    champion: LoadedModel | None,
    policy: PromotionPolicy,
    out_dir: str,
) -> GateResult:
    """Attack and perturb candidate and champion on the same rows; judge; plot accuracy vs epsilon."""
    gate = policy.gates.robustness
    if candidate_scores.error:
        return skipped(
            robustness.GATE, f"candidate could not be scored: {candidate_scores.error}", blocking=gate.blocking
        )
    rows, labels = sample_rows(frame, y, gate)
    ref = reference if reference is not None else frame
    try:
        cand = profile(candidate, rows, labels, ref, policy)
        champ = profile(champion, rows, labels, ref, policy) if champion is not None else None
    except Exception as exc:
        return errored(robustness.GATE, exc, blocking=gate.blocking)
    result = robustness.judge(cand, champ, gate)
    if cand.white_box:
        plot = robustness_plot(
            cand.white_box, None if champ is None else champ.white_box, Path(out_dir) / "robustness.png"
        )
        result = result.model_copy(update={"report_files": (*result.report_files, str(plot))})
    return result
