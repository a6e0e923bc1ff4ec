"""Load registered model versions and score them."""

from __future__ import annotations

import hashlib
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import mlflow.artifacts
import numpy as np
import pandas as pd
from mlflow.pyfunc import PyFuncModel

from gates.errors import BadInputError
from gates.policy import ModelOutputSpec
from gates.schema_check import ColumnSpec
from gates.scores import positive_scores
from tasks.registry import VersionRef


@dataclass
class LoadedModel:
    """A version loaded as pyfunc, with its artifact digest and input columns."""

    ref: VersionRef
    model: PyFuncModel
    digest: str
    columns: list[ColumnSpec] = field(default_factory=list)
    tensor_input: bool = False

    def predict(self, frame: pd.DataFrame) -> Any:
        """predict() on the model's input columns: a DataFrame, or a float32 array for tensor signatures."""
        names = [c.name for c in self.columns]
        if self.tensor_input:
            return self.model.predict(frame[names].to_numpy(np.float32, copy=True))
        rows = frame[names].copy()
        for col in self.columns:  # files carry 64-bit numbers; 32-bit signatures need a cast MLflow won't make
            if col.type == "float" and rows[col.name].dtype != np.float32:
                rows[col.name] = rows[col.name].astype(np.float32)
            elif col.type == "integer" and rows[col.name].dtype != np.int32 and not rows[col.name].isna().any():
                rows[col.name] = rows[col.name].astype(np.int32)
        return self.model.predict(rows)


def directory_sha256(root: Path) -> str:
    """sha256 over the relative paths and contents of every file under root."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def registered_input_columns(ref: VersionRef, tensor_columns: list[str] | None = None) -> list[ColumnSpec]:
    """Input columns read from the version's MLmodel file alone (no model load)."""
    try:
        info = mlflow.models.get_model_info(ref.uri)
    except Exception as exc:
        raise BadInputError(f"{ref.uri} has no readable MLmodel: {type(exc).__name__}: {exc}") from None
    return schema_columns(info.signature.inputs if info.signature else None, tensor_columns)[0]


def schema_columns(schema: Any, tensor_columns: list[str] | None = None) -> tuple[list[ColumnSpec], bool]:
    """ColumnSpecs from an MLflow input Schema, and whether it is one tensor; BadInputError when unusable.

    A single-tensor signature (e.g. a pt2 torch model) takes the policy's tensor_input_columns, in order.
    """
    if schema is None:
        raise BadInputError("the model version has no signature; log it with an input signature")
    if not schema.has_input_names():
        if not tensor_columns:
            raise BadInputError(
                "the model signature is an unnamed tensor; name its columns with tensor_input_columns in the policy"
            )
        shape = tuple(getattr(schema.inputs[0], "shape", ()) or ())
        if len(schema.inputs) != 1 or len(shape) != 2 or shape[1] not in (-1, len(tensor_columns)):
            raise BadInputError(
                f"the model's tensor input has shape {shape}; tensor_input_columns names {len(tensor_columns)} columns"
            )
        return [ColumnSpec(name=c, type="double") for c in tensor_columns], True
    specs = []
    for col in schema.inputs:
        type_name = getattr(getattr(col, "type", None), "name", None) or str(getattr(col, "type", "any"))
        specs.append(ColumnSpec(name=col.name, type=str(type_name), required=bool(getattr(col, "required", True))))
    return specs, False


def load_version(ref: VersionRef, tensor_columns: list[str] | None = None) -> LoadedModel:
    """Download the version's artifacts, hash them, and load them as pyfunc."""
    with tempfile.TemporaryDirectory(prefix="modelgate-") as tmp:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=ref.uri, dst_path=tmp))
        digest = directory_sha256(local)
        try:
            model = mlflow.pyfunc.load_model(str(local))
        except Exception as exc:
            raise BadInputError(f"{ref.uri} cannot be loaded as pyfunc: {type(exc).__name__}: {exc}") from None
    columns, tensor = schema_columns(model.metadata.get_input_schema(), tensor_columns)
    return LoadedModel(ref=ref, model=model, digest=digest, columns=columns, tensor_input=tensor)


@dataclass(frozen=True)
class Scores:
    """Positive-class scores of one model, or the error that stopped them."""

    version: str
    values: np.ndarray | None
    error: str | None = None
    seconds: float = 0.0


def score(loaded: LoadedModel, frame: pd.DataFrame, spec: ModelOutputSpec) -> Scores:
    """Predict on the model's input columns; any failure becomes Scores.error, never an exception."""
    start = time.perf_counter()
    try:
        output: Any = loaded.predict(frame)
        values = positive_scores(output, spec, len(frame))
    except Exception as exc:  # the model's own failure is evidence, not a crash
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return Scores(loaded.ref.version, None, f"{type(exc).__name__}: {first}", time.perf_counter() - start)
    return Scores(loaded.ref.version, values, None, time.perf_counter() - start)
