"""The one input path: eval rows become exactly what predict() receives, or a problem naming the column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gates.model_input import InputColumn, InputSchema, TensorInput, input_problems, json_body, prepare
from tasks.input_schemas import enforce_signature

SCHEMA = InputSchema(
    columns=(
        InputColumn("x32", "float"),
        InputColumn("x64", "double"),
        InputColumn("n32", "integer"),
        InputColumn("n64", "long"),
        InputColumn("colour", "string"),
        InputColumn("flag", "boolean"),
        InputColumn("extra", "double", required=False),
    )
)
FILE = pd.DataFrame(  # what read_csv gives: 64-bit numbers, object strings, integral floats
    {
        "x32": [0.5, 1.25, -2.0],
        "x64": [1.0, 2.0, 3.0],
        "n32": [1, 2, 3],
        "n64": [10.0, 20.0, 30.0],
        "colour": ["red", "blue", np.nan],
        "flag": [True, False, True],
        "target": [0, 1, 0],
    }
)


def test_prepare_casts_to_the_signatures_widths_and_order():
    out = prepare(FILE, SCHEMA)
    assert list(out.columns) == ["x32", "x64", "n32", "n64", "colour", "flag"]  # optional absent column left out
    assert [str(t) for t in out.dtypes] == ["float32", "float64", "int32", "int64", "object", "bool"]
    assert out["n64"].tolist() == [10, 20, 30] and out["colour"].tolist()[:2] == ["red", "blue"]
    assert pd.isna(out["colour"].iloc[2])


def test_mlflow_enforcement_accepts_what_the_input_path_makes_and_refuses_the_raw_file():
    from mlflow.models.utils import _enforce_schema
    from mlflow.types import ColSpec, Schema

    spec = Schema([ColSpec(c.type, c.name, required=c.required) for c in SCHEMA.columns])
    enforce_signature(prepare(FILE, SCHEMA), SCHEMA, "eval.csv")  # no error
    with pytest.raises(Exception, match="x32"):  # float64 -> float32 is a downcast MLflow refuses
        _enforce_schema(FILE.drop(columns="target"), spec)


def test_missing_values_in_an_integer_column_are_left_for_data_validation():
    frame = FILE.assign(n64=[1.0, np.nan, 3.0])
    assert input_problems(frame, SCHEMA) == []
    out = prepare(frame, SCHEMA)
    assert str(out["n64"].dtype) == "float64" and out["n64"].isna().tolist() == [False, True, False]


def test_codes_read_as_numbers_become_strings():
    schema = InputSchema(columns=(InputColumn("zip", "string"),))
    assert prepare(pd.DataFrame({"zip": [7.0, 12345.0]}), schema)["zip"].tolist() == ["7", "12345"]


@pytest.mark.parametrize(
    ("frame", "problem"),
    [
        (FILE.assign(x64=["1.0", "two", "3"]), "column 'x64' holds text where the model expects double: 'two'"),
        (FILE.drop(columns="n32"), "model input column 'n32' (integer) is missing from the eval data"),
        (
            FILE.assign(n32=[1.5, 2.0, 3.0]),
            "column 'n32' holds non-integer values where the model expects integer: 1.5",
        ),
        (FILE.assign(n32=[1, 2, 2**40]), "column 'n32' holds values outside the integer range"),
        (FILE.assign(flag=["yes", "no", "yes"]), "column 'flag' holds values that are not booleans"),
    ],
)
def test_problems_name_the_column(frame, problem):
    problems = input_problems(frame, SCHEMA)
    assert len(problems) == 1 and problems[0].startswith(problem)


def test_tensor_signature_takes_the_named_columns_in_order():
    schema = InputSchema(tensor=TensorInput(dtype="float32", shape=(-1, 2), columns=("x64", "x32")))
    array = prepare(FILE, schema)
    assert array.dtype == np.float32 and array.tolist() == [[1.0, 0.5], [2.0, 1.25], [3.0, -2.0]]
    assert json_body(array) == {"inputs": [[1.0, 0.5], [2.0, 1.25], [3.0, -2.0]]}
    assert input_problems(FILE.drop(columns="x32"), schema) == [
        "tensor input column(s) missing from the eval data: x32"
    ]
    wrong = InputSchema(tensor=TensorInput(dtype="float32", shape=(-1, 3), columns=("x64", "x32")))
    assert input_problems(FILE, wrong) == [
        "the model's tensor input has shape [-1, 3]; tensor_input_columns names 2 columns"
    ]


def test_json_body_is_dataframe_split_of_the_prepared_rows():
    body = json_body(prepare(FILE.head(1), SCHEMA))
    assert body == {
        "dataframe_split": {
            "columns": ["x32", "x64", "n32", "n64", "colour", "flag"],
            "data": [[0.5, 1.0, 1, 10, "red", True]],
        }
    }


def test_schema_round_trips_through_json():
    schema = InputSchema(tensor=TensorInput(dtype="float32", shape=(-1, 2), columns=("a", "b")))
    assert InputSchema.from_dict(schema.to_dict()) == schema
    assert InputSchema.from_dict(SCHEMA.to_dict()) == SCHEMA
