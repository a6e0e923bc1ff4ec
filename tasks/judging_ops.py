"""Judging-side operations beyond scoring: robustness profiles and latency timing blocks (child process only)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gates import robustness, tensor_data
from gates.model_input import prepare
from gates.policy import RobustnessGatePolicy

if TYPE_CHECKING:  # torch is imported only by judges whose model needs it
    from gates import attacks
    from tasks.model_views import TorchView

Op = Callable[[Any, dict[str, Any]], dict[str, Any]]


def _attack_space(view: TorchView, frame: pd.DataFrame, reference: pd.DataFrame) -> attacks.AttackSpace:
    """Encoded rows with per-column scale (reference std) and bounds (seen in reference and eval rows)."""
    import torch

    from gates import attacks

    x, ref = view.encode(frame).float(), view.encode(reference).float()
    width = x.shape[1]
    scale = torch.zeros(width)
    idx = torch.tensor(view.continuous, dtype=torch.long)
    scale[idx] = ref[:, idx].std(dim=0).clamp_min(1e-12)
    lower = torch.full((width,), -torch.inf)
    upper = torch.full((width,), torch.inf)
    lower[idx] = torch.minimum(ref[:, idx].min(dim=0).values, x[:, idx].min(dim=0).values)
    upper[idx] = torch.maximum(ref[:, idx].max(dim=0).values, x[:, idx].max(dim=0).values)
    return attacks.AttackSpace(forward=view.forward, x=x, scale=scale, lower=lower, upper=upper)


def _pixel_space(view: TorchView, frame: pd.DataFrame, bounds: tuple[float, float]) -> attacks.AttackSpace:
    """Array inputs flattened, perturbed in input units (scale 1) and kept inside the valid range; the model
    sees them in its own shape, through any normalisation it does itself."""
    import torch

    from gates import attacks

    x = view.encode(frame).float()
    shape = tuple(x.shape[1:])
    flat = x.reshape(len(x), -1)
    width = flat.shape[1]
    module = view.forward

    def forward(z: torch.Tensor) -> torch.Tensor:
        return module(z.reshape((len(z), *shape)))

    return attacks.AttackSpace(
        forward=forward,
        x=flat,
        scale=torch.ones(width),
        lower=torch.full((width,), bounds[0]),
        upper=torch.full((width,), bounds[1]),
    )


def robustness_profile(host: Any, request: dict[str, Any]) -> dict[str, Any]:
    """Clean accuracy, white-box robust accuracy (when the model has a torch view) and black-box results."""
    gate = RobustnessGatePolicy.model_validate(request["policy"])
    rows, y = host.rows(request["rows"]), host.rows(request["labels"])
    schema = host.schema
    names, numeric, categorical = schema.names, schema.numeric, schema.categorical
    frame = host.frame.iloc[rows].reset_index(drop=True)[names]
    reference = host.reference[names]
    array = request.get("array")
    if array is not None:  # images or other fixed-shape tensors: perturbations in input units
        shape, bounds = tuple(array["shape"]), (float(array["range"][0]), float(array["range"][1]))
        scales = {}
        perturbed = tensor_data.image_perturbations(frame, shape, bounds, gate)
    else:
        scales = robustness.noise_scales(reference, numeric)
        categories = {c: sorted(reference[c].dropna().astype(str).unique().tolist()) for c in categorical}
        nullable = [c for c in names if c in request.get("nullable", [])]
        perturbed = robustness.perturbations(frame, numeric, categorical, scales, categories, gate, nullable)
    task, sigma = str(request.get("task", "binary")), float(request.get("sigma") or 1.0)
    clean, black = robustness.black_box(host.scores, frame, y, float(request["threshold"]), perturbed, task, sigma)
    from tasks.model_views import has_gradients, torch_view

    view, note = torch_view(host.model, schema)
    if view is not None and task == "regression":
        view, note = None, "white-box attacks judge classifiers; a regression model gets the black-box perturbations"
    white: dict[str, dict[str, float]] = {}
    attacked = ""
    device = "cpu"
    if view is not None and not view.continuous:
        view, note = None, "the model has no continuous inputs to perturb; white-box attacks skipped"
    if view is not None:
        space = _attack_space(view, frame, reference) if array is None else _pixel_space(view, frame, bounds)
        note = has_gradients(replace(view, forward=space.forward), space.x)
        if not note:
            from gates import attacks

            device = attacks.pick_device(gate.device)
            if device == "cuda" and hasattr(view.forward, "to"):
                view.forward.to("cuda")  # a module moves in place: the attack space's forward pass follows it
            white = attacks.white_box(space, y, gate)
            attacked = view.description
    profile = robustness.RobustnessProfile(
        clean_accuracy=clean,
        white_box=white,
        white_box_note=note,
        black_box=black,
        device=device,
        noise_scales=scales,
        task=task,
    )
    return {"profile": profile.to_dict(), "attacked": attacked}


class _Timing:
    """What one model times: the served predict() on DataFrame rows, and its torch module when it has one."""

    def __init__(self, host: Any, rows: np.ndarray, device: str, mode: str, threads: int | None) -> None:
        from tasks.model_views import torch_view

        self.host, self.device, self.mode = host, device, mode
        self.rows = host.frame.iloc[rows].reset_index(drop=True)
        self.view, self.note = torch_view(host.model, host.schema)
        self.threads = threads  # BLAS and OpenMP pools are held to this while timing (None: as they are)
        self.inputs: dict[tuple[str, int], Any] = {}
        self.targets: dict[tuple[str, int], Callable[[Any], Any]] = {}

    def served(self, frame: pd.DataFrame) -> Any:
        """The version as served: the input path, then predict()."""
        return self.host.model.predict(prepare(frame, self.host.schema))

    def batch(self, batch: int) -> pd.DataFrame:
        reps = -(-batch // len(self.rows))
        return pd.concat([self.rows] * reps, ignore_index=True).iloc[:batch]

    def target(self, name: str, batch: int) -> tuple[Callable[[Any], Any], Any]:
        key = (name, batch)
        if key not in self.targets:
            frame = self.batch(batch)
            if name == "served":
                self.targets[key], self.inputs[key] = self.served, frame
            else:
                import torch

                from gates import latency_core

                assert self.view is not None
                module = self.view.forward
                if self.device == "cuda" and isinstance(module, torch.nn.Module):
                    module = module.to("cuda")
                x = self.view.encode(frame).to(self.device)
                self.targets[key] = latency_core.prepare_target(module, x, self.device, self.mode)
                self.inputs[key] = x
        return self.targets[key], self.inputs[key]


def latency_setup(host: Any, request: dict[str, Any]) -> dict[str, Any]:
    """Choose what can be timed; returns the targets ('served', and 'module' for torch models)."""
    import torch

    from gates import latency_core

    if request.get("threads"):
        torch.set_num_threads(int(request["threads"]))
    device = latency_core.resolve_device(request["device"])
    threads = int(request["threads"]) if request.get("threads") else None
    timing = _Timing(host, host.rows(request["rows"]), device, request["mode"], threads)
    usable = timing.view is not None and _forward_runs(timing)
    host.timing = timing
    targets = ["served"] + (["module"] if usable else [])
    module_device = device if usable else "cpu"
    from tasks.model_views import ONNX_LATENCY, onnx_device, onnx_providers

    providers = onnx_providers(host.model)
    if providers:  # the graph runs where onnxruntime puts it, whatever torch sees
        device = onnx_device(providers)
    why = timing.view.description if usable else ONNX_LATENCY if providers else timing.note
    return {
        "targets": targets,
        "module_view": why + (f" (onnxruntime providers: {', '.join(providers)})" if providers else ""),
        "module_device": module_device,
        "device": device,
    }


def _forward_runs(timing: _Timing) -> bool:
    """Whether the torch view's forward pass runs on encoded rows (timing needs no gradients)."""
    import torch

    view = timing.view
    if view is None:
        return False
    try:
        module = view.forward
        if timing.device == "cuda" and isinstance(module, torch.nn.Module):
            module = module.to("cuda")
        with torch.inference_mode():
            module(view.encode(timing.rows.head(2)).to(timing.device))
    except Exception:
        return False
    return True


def latency_block(host: Any, request: dict[str, Any]) -> dict[str, Any]:
    """Warm up (when asked), then time `calls` consecutive calls of one target at one batch size."""
    import torch
    from threadpoolctl import threadpool_limits

    from gates import latency_core
    from tasks.run_queue_wait import open_for_this_thread

    timing: _Timing = host.timing
    name, batch = request["target"], int(request["batch"])
    device = timing.device if name == "module" else "cpu"
    fn, x = timing.target(name, batch)
    clock = open_for_this_thread() if request.get("subtract_wait", True) else None
    try:
        with threadpool_limits(limits=timing.threads):
            for _ in range(int(request.get("warmup", 0))):
                with torch.inference_mode():
                    fn(x)
            timed = latency_core.timed_calls(fn, x, int(request["calls"]), device, clock)
    finally:
        if clock is not None:
            clock.close()
    peak = None
    if request.get("peak_memory") and device == "cuda":
        peak = latency_core.peak_memory_mb(fn, x)
    return {
        "times": timed.wall.tolist(),
        "waited": timed.waited.tolist(),
        "wait_measured": clock is not None and device != "cuda",
        "peak_memory_mb": peak,
    }


def environment(host: Any, request: dict[str, Any]) -> dict[str, Any]:
    """Where the numbers were measured, and this process's peak resident memory (model and libraries loaded)."""
    import resource
    import sys

    from tasks.device_info import environment as describe

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)
    return {"environment": describe(request["device"]), "peak_rss_mib": peak}


def probe(host: Any, request: dict[str, Any]) -> dict[str, Any]:
    """The integration gate's clean-process checks (tasks.integration_probe) in this fresh judge."""
    from tasks.integration_probe import run

    return {"result": run(request["args"])}


OPS: dict[str, Op] = {
    "probe": probe,
    "robustness": robustness_profile,
    "latency_setup": latency_setup,
    "latency_block": latency_block,
    "environment": environment,
}
