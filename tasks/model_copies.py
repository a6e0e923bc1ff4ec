"""Local copies of model versions: downloaded and hashed by the acting side, which reads only their MLmodel
file (the signature), never their pickles. The judging side loads them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow.artifacts
import numpy as np
from mlflow.models import Model

from gates.errors import BadInputError
from gates.model_input import InputColumn, InputSchema, TensorInput
from gates.model_task import OutputShape
from tasks.registry import VersionRef


@dataclass(frozen=True)
class ModelCopy:
    """A version's artifacts on local disk, their digest, its input schema and flavours."""

    ref: VersionRef
    local_dir: str
    digest: str
    schema: InputSchema
    flavors: tuple[str, ...]
    output: OutputShape = OutputShape(None, None)
    signed: bool = False  # the MLmodel has a signature
    has_input_example: bool = False

    @property
    def version(self) -> str:
        """The version number."""
        return self.ref.version


def directory_sha256(root: Path) -> str:
    """sha256 over the relative paths and contents of every file under root."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        with path.open("rb") as fh:
            inner = hashlib.sha256()
            for block in iter(lambda: fh.read(1 << 20), b""):
                inner.update(block)
        digest.update(inner.digest())
    return digest.hexdigest()


def input_schema(
    signature_inputs: Any, tensor_columns: list[str] | None, unsigned: InputSchema | None = None
) -> InputSchema:
    """The input path's schema from an MLflow input Schema; BadInputError when it cannot be used.

    A single unnamed tensor (e.g. a torch pt2 model) takes the policy's tensor_input_columns, in order. A
    version without a signature takes `unsigned` (the eval data's columns), when given.
    """
    if signature_inputs is None:
        if unsigned is not None:
            return unsigned
        raise BadInputError("the model version has no signature; log it with an input signature")
    if not signature_inputs.has_input_names():
        if not tensor_columns:
            raise BadInputError(
                "the model signature is an unnamed tensor; name its columns with tensor_input_columns in the policy"
            )
        spec = signature_inputs.inputs[0]
        shape = tuple(int(d) for d in (getattr(spec, "shape", ()) or ()))
        if len(signature_inputs.inputs) != 1 or not _fits(shape, len(tensor_columns)):
            raise BadInputError(
                f"the model's tensor input has shape {list(shape)}; the eval data gives {len(tensor_columns)} "
                "values per row (tensor_input_columns, or the eval arrays flattened)"
            )
        return InputSchema(tensor=TensorInput(dtype=str(spec.type), shape=shape, columns=tuple(tensor_columns)))
    if signature_inputs.is_tensor_spec():
        raise BadInputError("the model takes named tensors; modelgate supports named columns or one tensor")
    columns = []
    for col in signature_inputs.inputs:
        kind = getattr(getattr(col, "type", None), "name", None) or str(getattr(col, "type", "any"))
        columns.append(InputColumn(name=col.name, type=str(kind), required=bool(getattr(col, "required", True))))
    return InputSchema(columns=tuple(columns))


def _fits(shape: tuple[int, ...], width: int) -> bool:
    """Whether rows of `width` values fill a tensor of this shape (-1 for the batch; a 2-D shape may leave its
    width open)."""
    if len(shape) == 2:
        return shape[1] in (-1, width)
    return len(shape) > 2 and all(d > 0 for d in shape[1:]) and int(np.prod(shape[1:])) == width


def output_shape(signature: Any) -> OutputShape:
    """Values per row and their kind, from a signature's outputs (unknown without one)."""
    outputs = None if signature is None else signature.outputs
    if outputs is None or not outputs.inputs:
        return OutputShape(None, None)
    if outputs.is_tensor_spec():
        spec = outputs.inputs[0]
        shape = tuple(spec.shape or ())
        width = int(np.prod(shape[1:])) if len(shape) > 1 and all(d > 0 for d in shape[1:]) else 1
        return OutputShape(width if len(outputs.inputs) == 1 else None, spec.type.kind == "f")
    kinds = {getattr(c.type, "name", str(c.type)) for c in outputs.inputs}
    return OutputShape(len(outputs.inputs), kinds <= {"double", "float"})


def registered_output(ref: VersionRef) -> OutputShape:
    """What the version's signature says predict() returns (nothing is loaded)."""
    try:
        info = mlflow.models.get_model_info(ref.uri)
    except Exception:
        return OutputShape(None, None)
    return output_shape(info.signature)


def registered_schema(
    ref: VersionRef, tensor_columns: list[str] | None, unsigned: InputSchema | None = None
) -> InputSchema:
    """The version's input schema from its MLmodel file alone (nothing is loaded)."""
    try:
        info = mlflow.models.get_model_info(ref.uri)
    except Exception as exc:
        raise BadInputError(f"{ref.uri} has no readable MLmodel: {type(exc).__name__}: {exc}") from None
    return input_schema(info.signature.inputs if info.signature else None, tensor_columns, unsigned)


def download_copy(
    ref: VersionRef, dest: Path, tensor_columns: list[str] | None, unsigned: InputSchema | None = None
) -> ModelCopy:
    """Download the version's artifacts into `dest`, hash them, and read their MLmodel file."""
    dest.mkdir(parents=True, exist_ok=True)
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=ref.uri, dst_path=str(dest)))
    try:
        mlmodel = Model.load(str(local))
    except Exception as exc:
        raise BadInputError(f"{ref.uri} has no readable MLmodel: {type(exc).__name__}: {exc}") from None
    schema = input_schema(mlmodel.signature.inputs if mlmodel.signature else None, tensor_columns, unsigned)
    return ModelCopy(
        ref=ref,
        local_dir=str(local),
        digest=directory_sha256(local),
        schema=schema,
        flavors=tuple(sorted(mlmodel.flavors)),
        output=output_shape(mlmodel.signature),
        signed=mlmodel.signature is not None,
        has_input_example=mlmodel.saved_input_example_info is not None,
    )
