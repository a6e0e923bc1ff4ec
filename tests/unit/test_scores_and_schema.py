"""Reading scores out of predict() output, and checking eval frames against model inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gates.model_input import InputColumn, InputSchema
from gates.policy import ModelOutputSpec
from gates.schema_check import eval_frame_problems
from gates.scores import positive_scores

AUTO = ModelOutputSpec()


@pytest.mark.parametrize(
    ("output", "spec", "expected"),
    [
        (np.array([0.2, 0.9]), AUTO, [0.2, 0.9]),
        (np.array([[0.8, 0.2], [0.1, 0.9]]), AUTO, [0.2, 0.9]),
        (np.array([[0.0, 0.0], [0.0, np.log(3.0)]]), AUTO, [0.5, 0.75]),  # logits -> softmax
        (pd.DataFrame({"probability": [0.3, 0.6], "label": [0, 1]}), AUTO, [0.3, 0.6]),
        (pd.DataFrame({"p": [0.3, 0.6]}), AUTO, [0.3, 0.6]),
        (pd.DataFrame({0: [0.0, 0.0], 1: [0.0, np.log(3.0)]}), AUTO, [0.5, 0.75]),  # per-class logit columns
        (np.array([0, 1]), ModelOutputSpec(kind="label"), [0.0, 1.0]),
        (np.array([0.0, 0.0]), ModelOutputSpec(kind="logits"), [0.5, 0.5]),
    ],
)
def test_positive_scores(output, spec, expected):
    assert positive_scores(output, spec, 2) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("output", "spec", "message"),
    [
        (np.array([0.2]), AUTO, "1 rows for 2 inputs"),
        (np.array([1.5, 0.2]), AUTO, "outside \\[0, 1\\]"),
        (np.array(["a", "b"], dtype=object), AUTO, "non-numeric"),
        (pd.DataFrame({"x": ["a", "b"], "z": [2, 3]}), AUTO, "set model_output.column"),
        (np.array([0.5, 0.2]), ModelOutputSpec(kind="label"), "other than 0 and 1"),
    ],
)
def test_unreadable_outputs(output, spec, message):
    with pytest.raises(ValueError, match=message):
        positive_scores(output, spec, 2)


SCHEMA = InputSchema(columns=(InputColumn("age", "long"), InputColumn("sex", "string"), InputColumn("score", "double")))


def test_good_frame_has_no_problems():
    frame = pd.DataFrame({"age": [30, 40], "sex": ["a", "b"], "score": [0.1, 2.0], "y": [0, 1]})
    assert eval_frame_problems(frame, SCHEMA, "y") == []


def test_every_problem_is_named():
    frame = pd.DataFrame({"age": [30.5, 40.0], "score": ["x", "y"], "y": [0, None]})
    assert eval_frame_problems(frame, SCHEMA, "y") == [
        "target column 'y' has 1 missing values",
        "column 'age' holds non-integer values where the model expects long: 30.5",
        "model input column 'sex' (string) is missing from the eval data",
        "column 'score' holds text where the model expects double: 'x', 'y'",
    ]
