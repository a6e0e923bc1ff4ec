"""Named outputs (an ONNX graph's, through mlflow.onnx's pyfunc or a scoring server's JSON) read like any other."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gates.policy import ModelOutputSpec
from gates.scores import named_output, positive_scores, served_output, task_scores

AUTO = ModelOutputSpec()
PROBA = np.array([[0.8, 0.2], [0.1, 0.9], [0.4, 0.6]], dtype=np.float32)
LABELS = np.array([0, 1, 1], dtype=np.int64)
ZIPMAP = [{0: 0.8, 1: 0.2}, {0: 0.1, 1: 0.9}, {0: 0.4, 1: 0.6}]


@pytest.mark.parametrize(
    ("output", "spec"),
    [
        ({"label": LABELS, "probabilities": PROBA}, AUTO),  # skl2onnx, zipmap=False, ndarray input
        ({"label": LABELS, "probabilities": PROBA}, ModelOutputSpec(kind="probability")),
        ({"output_label": LABELS, "output_probability": ZIPMAP}, AUTO),  # skl2onnx's default ZipMap
        ({"output_label": LABELS, "output_probability": ZIPMAP}, ModelOutputSpec(column="output_probability")),
        (pd.DataFrame({"output_label": LABELS, "output_probability": ZIPMAP}), AUTO),  # DataFrame input
        ({"a": LABELS, "b": PROBA}, ModelOutputSpec(kind="probability", column="b")),  # names the policy gives
        ({"logits": np.log(PROBA)}, ModelOutputSpec(kind="logits")),  # torch.onnx.export: one output
    ],
)
def test_named_outputs_give_the_positive_class_probability(output, spec):
    assert positive_scores(output, spec, 3) == pytest.approx([0.2, 0.9, 0.6], abs=1e-6)


@pytest.mark.parametrize(
    "output",
    [
        {"label": LABELS, "probabilities": PROBA},
        {"output_label": LABELS, "output_probability": ZIPMAP},
        pd.DataFrame({"output_label": LABELS, "output_probability": ZIPMAP}),
    ],
)
def test_the_scoring_servers_json_reads_as_predict_does(output):
    """What `mlflow models serve` sends back (NumpyEncoder, records for a DataFrame) scores the same."""
    if isinstance(output, pd.DataFrame):
        body = output.to_dict(orient="records")
    else:
        body = {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in output.items()}
    predictions = json.loads(json.dumps({"predictions": body}))["predictions"]  # int class keys become "0", "1"
    expected = positive_scores(output, AUTO, 3)
    assert positive_scores(served_output(predictions), AUTO, 3) == pytest.approx(expected)


def test_served_output_keeps_the_other_shapes():
    assert isinstance(served_output([{"probability": 0.2}]), pd.DataFrame)
    assert served_output([[0.8, 0.2]]).shape == (1, 2)
    assert served_output([0.2, 0.9]).tolist() == [0.2, 0.9]


def test_outputs_that_cannot_be_told_apart_need_a_column():
    with pytest.raises(ValueError, match=r"outputs \['a', 'b'\]; set model_output.column"):
        positive_scores({"a": LABELS, "b": PROBA}, AUTO, 3)
    with pytest.raises(ValueError, match="set model_output.column"):
        positive_scores({"label": LABELS}, ModelOutputSpec(column="probabilities"), 3)


def test_other_outputs_pass_through():
    frame = pd.DataFrame({"probability": [0.3]})
    assert named_output(frame, AUTO) is frame
    assert named_output(PROBA, AUTO) is PROBA


def test_multiclass_reads_the_named_class_probabilities():
    proba = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]])
    got = task_scores({"label": np.array([1, 0]), "probabilities": proba}, "multiclass", AUTO, 2, 1, (0, 1, 2))
    assert got == pytest.approx(proba)


def test_a_real_skl2onnx_graph_scores_as_its_pipeline():
    """The graph's outputs as onnxruntime returns them, with and without ZipMap, score as predict_proba does."""
    import onnxruntime
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    y = (x[:, 0] + rng.normal(size=200) > 0).astype(np.int64)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    expected = pipeline.predict_proba(x)[:, 1]
    for options in ({"zipmap": False}, None):
        graph = to_onnx(pipeline, x[:1], options=options)
        session = onnxruntime.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
        output = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"X": x}), strict=True))
        assert positive_scores(output, AUTO, len(x)) == pytest.approx(expected, abs=1e-5), sorted(output)
