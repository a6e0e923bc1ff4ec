"""Views of a loaded pyfunc model for the judging side: its torch module behind the input path, and
class probabilities where predict() returns labels. Runs only where model code may run (the judging side).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gates.model_input import FLOAT_TYPES, InputSchema, prepare

if TYPE_CHECKING:  # torch is imported only where a model brings it
    import torch

PROTOCOL = ("torch_module", "encode", "continuous_columns")
# An mlflow.onnx model: predict() runs the graph in an onnxruntime session, which offers no gradients to attack,
# and which is itself the serving runtime, so the latency gate times it as served only.
ONNX_ROBUSTNESS = (
    "an ONNX graph run by onnxruntime, which gives no gradients; white-box attacks skipped, black-box checks only"
)
ONNX_LATENCY = (
    "an ONNX graph: timed as served, predict() through its onnxruntime session (with onnxruntime's own thread "
    "pool, as a scoring server runs it); no separate core target: the session is the serving runtime itself, "
    "predict() adds only MLflow's input check, and no torch mode (compile, CUDA graphs) applies to it"
)


@dataclass
class TorchView:
    """A differentiable forward pass, the encoder from eval rows to its inputs, and what may be perturbed."""

    forward: Callable[[torch.Tensor], torch.Tensor]
    encode: Callable[[pd.DataFrame], torch.Tensor]
    continuous: list[int]
    description: str


def _python_model(model: Any) -> Any:
    try:
        return model.unwrap_python_model()
    except Exception:  # not a custom python model
        return None


def _as_tensor(prepared: pd.DataFrame | np.ndarray) -> torch.Tensor:
    """What the pytorch flavour's pyfunc does with its input: a DataFrame becomes float32, an array stays."""
    import torch

    if isinstance(prepared, pd.DataFrame):
        return torch.from_numpy(prepared.to_numpy(dtype=np.float32, copy=True))
    return torch.from_numpy(np.array(prepared, copy=True))


def torch_view(model: Any, schema: InputSchema) -> tuple[TorchView | None, str]:
    """The model's torch view, or None with the reason white-box attacks cannot run.

    Supported: a pyfunc python model offering torch_module(), encode(frame) and continuous_columns();
    a pytorch-flavour model (pickle or pt2), with the input path in front of its module.
    """
    impl = _python_model(model)
    if impl is not None and all(hasattr(impl, a) for a in PROTOCOL):
        return TorchView(
            forward=impl.torch_module(),
            encode=lambda frame: impl.encode(frame).float(),
            continuous=list(impl.continuous_columns()),
            description="the model's own torch_module() behind its encode()",
        ), ""
    flavors = model.metadata.flavors
    if is_onnx(model):  # a torch net exported to ONNX has left torch behind: no module to claim
        return None, ONNX_ROBUSTNESS
    if "pytorch" not in flavors:
        return None, "the model exposes no torch module; white-box attacks skipped, black-box checks only"
    fmt = flavors["pytorch"].get("serialization_format") or (
        "pt2" if flavors["pytorch"].get("pytorch_version") and schema.tensor else "pickle"
    )
    module = model.get_raw_model()
    if schema.tensor is not None:
        continuous = list(range(len(schema.tensor.columns)))
        held: list[str] = []
    else:
        continuous = [i for i, c in enumerate(schema.columns) if c.type in FLOAT_TYPES]
        held = [c.name for c in schema.columns if c.type not in FLOAT_TYPES]
        if len(continuous) + len(held) != len(schema.columns) or any(
            c.type not in ("float", "double", "integer", "long") for c in schema.columns
        ):
            return None, "the torch model takes non-numeric inputs; white-box attacks skipped, black-box checks only"
    description = f"the pytorch flavour's module ({fmt}) behind the input path"
    if held:
        description += f"; integer inputs held fixed: {', '.join(held)}"
    return TorchView(
        forward=module,
        encode=lambda frame: _as_tensor(prepare(frame, schema)).float(),
        continuous=continuous,
        description=description,
    ), ""


def is_onnx(model: Any) -> bool:
    """Whether the version was logged with mlflow.onnx (its pyfunc runs the graph in onnxruntime)."""
    return "onnx" in model.metadata.flavors


def onnx_providers(model: Any) -> list[str]:
    """The execution providers of an mlflow.onnx version's onnxruntime session, in the order it uses them
    (MLflow asks for CUDA first and keeps those the installed onnxruntime offers); [] when not ONNX."""
    if not is_onnx(model):
        return []
    session = getattr(model._model_impl, "rt", None)
    return list(session.get_providers()) if session is not None else []


# onnxruntime's providers that run a graph on a GPU (NVIDIA's CUDA and TensorRT, AMD's ROCm and MIGraphX)
GPU_PROVIDERS = frozenset(
    {"CUDAExecutionProvider", "TensorrtExecutionProvider", "ROCMExecutionProvider", "MIGraphXExecutionProvider"}
)


def onnx_device(providers: list[str]) -> str:
    """Where an ONNX session runs its graph: 'cuda' (a GPU) when its first provider is a GPU's, else 'cpu'."""
    return "cuda" if providers[:1] and providers[0] in GPU_PROVIDERS else "cpu"


def has_gradients(view: TorchView, x: torch.Tensor) -> str:
    """'' when the forward pass has gradients with respect to its input, else why not."""
    import torch

    try:
        probe = x[:2].clone().requires_grad_(True)
        torch.autograd.grad(view.forward(probe).sum(), probe)
    except Exception as exc:
        return f"no gradients through the model ({type(exc).__name__}); white-box attacks skipped, black-box only"
    return ""


def probability_source(model: Any) -> tuple[Callable[[Any], np.ndarray], list[Any], str] | None:
    """predict_proba of the flavour's own estimator (scikit-learn, LightGBM, XGBoost), its classes, its name."""
    try:
        raw = model.get_raw_model()
    except Exception:
        return None
    if not hasattr(raw, "predict_proba") or not hasattr(raw, "classes_"):
        return None
    return raw.predict_proba, list(raw.classes_), type(raw).__name__
