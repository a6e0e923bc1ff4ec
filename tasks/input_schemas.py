"""Which input schema each version is judged with (its signature, the policy's tensor columns, or the eval
columns for a version logged without one), and MLflow's own enforcement of it on the eval rows."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gates.errors import BadInputError
from gates.model_input import InputSchema, schema_from_frame
from gates.policy import PromotionPolicy
from gates.tensor_data import array_columns, array_shape
from tasks import registry
from tasks.model_copies import registered_schema

if TYPE_CHECKING:
    from tasks.eval_data import EvalData


def unsigned_schema(policy: PromotionPolicy, data: EvalData) -> InputSchema:
    """What a version logged without a signature is given: the policy's input_columns, or every eval column
    but the target, with the types the eval data has."""
    columns = policy.input_columns or [c for c in data.frame.columns if c != policy.eval_data.target]
    missing = [c for c in columns if c not in data.frame.columns]
    if missing:
        raise BadInputError(f"input_columns named in the policy are not columns of the eval data: {', '.join(missing)}")
    return schema_from_frame(data.frame, columns)


def tensor_columns(policy: PromotionPolicy, data: EvalData) -> list[str] | None:
    """The eval columns that form a one-tensor input: the policy's, or every flattened column of array data."""
    shape = array_shape(data.frame)
    if policy.tensor_input_columns or shape is None:
        return policy.tensor_input_columns
    return array_columns(int(np.prod(shape)))


def schema_for(
    ref: registry.VersionRef, columns: list[str] | None, unsigned: InputSchema, data: EvalData
) -> InputSchema:
    """The version's input schema; a signature the eval data cannot fill names the version and the file."""
    try:
        return registered_schema(ref, columns, unsigned)
    except BadInputError as exc:
        raise BadInputError(f"v{ref.version} on eval data {data.path}: {exc}") from None


def enforce_signature(prepared: pd.DataFrame | np.ndarray, schema: InputSchema, source: str) -> None:
    """MLflow's own input enforcement on what the input path made (reads the schema only, runs no model code)."""
    from mlflow.models.utils import _enforce_schema
    from mlflow.types import ColSpec, Schema, TensorSpec

    if schema.tensor is not None:
        spec = Schema([TensorSpec(np.dtype(schema.tensor.dtype), schema.tensor.shape)])
    else:
        spec = Schema([ColSpec(c.type, c.name, required=c.required) for c in schema.columns])
    try:
        _enforce_schema(prepared, spec)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadInputError(f"eval data {source} does not match the model's signature: {first}") from None
