"""Task inference, reading outputs per task, the output check, evaluation and black-box robustness per task."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gates.errors import BadInputError
from gates.evaluation import evaluate
from gates.model_task import OutputShape, class_indices, class_labels, infer_task, regression_targets
from gates.output_check_tasks import check_task_outputs
from gates.policy import EvaluationGatePolicy, ModelOutputSpec, OutputCheckGatePolicy, parse_policy
from gates.result import GateStatus
from gates.robustness import REGRESSION_FLIP, black_box
from gates.scores import TaskMismatch, class_probabilities, regression_values, task_scores

SPEC = ModelOutputSpec()


@pytest.mark.parametrize(
    ("target", "output", "task"),
    [
        (pd.Series(["a", "b", "a"]), None, "binary"),
        (pd.Series(["a", "b", "c"]), None, "multiclass"),
        (pd.Series([0, 1, 2, 1]), OutputShape(1, False), "multiclass"),
        (pd.Series([0, 1, 2, 1]), OutputShape(1, True), "regression"),
        (pd.Series([0, 1, 1, 0]), OutputShape(1, True), "binary"),
        (pd.Series([0, 1, 1, 0]), OutputShape(3, True), "multiclass"),
        (pd.Series([0.5, 1.25, 3.0]), None, "regression"),
        (pd.Series(range(60)), OutputShape(1, False), "regression"),
    ],
)
def test_task_inferred_from_target_and_signature(target: pd.Series, output: OutputShape | None, task: str) -> None:
    chosen = infer_task(target, "auto", 50, output)
    assert chosen.name == task
    assert chosen.reason.startswith("inferred: ")


def test_a_declared_task_is_taken_as_is() -> None:
    chosen = infer_task(pd.Series([0.5, 1.5]), "multiclass", 50, None)
    assert (chosen.name, chosen.reason) == ("multiclass", "set in the policy")


def test_class_labels_and_indices() -> None:
    target = pd.Series(["setosa", "virginica", "versicolor", "setosa"])
    classes = class_labels(target, None)
    assert classes == ("setosa", "versicolor", "virginica")
    assert class_indices(target, classes, "eval.csv").tolist() == [0, 2, 1, 0]
    assert class_labels(target, ["virginica", "setosa", "versicolor"]) == ("virginica", "setosa", "versicolor")
    with pytest.raises(BadInputError, match=r"^eval.csv: label\(s\) other are not among the model's classes"):
        class_indices(pd.Series(["setosa", "other"]), classes, "eval.csv")


def test_regression_targets_must_be_numbers() -> None:
    assert regression_targets(pd.Series(["1.5", "2"]), "e").tolist() == [1.5, 2.0]
    with pytest.raises(BadInputError, match="regression target holds non-numeric values, e.g. 'x'"):
        regression_targets(pd.Series(["1.5", "x"]), "e")


def test_class_probabilities_from_labels_probabilities_and_logits() -> None:
    classes = ("a", "b", "c")
    onehot = class_probabilities(np.array(["b", "a", "c"]), SPEC, 3, classes)
    assert onehot.tolist() == [[0, 1, 0], [1, 0, 0], [0, 0, 1]]
    proba = np.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]])
    assert np.allclose(class_probabilities(pd.DataFrame(proba), SPEC, 2, classes), proba)
    logits = np.array([[0.0, 0.0, np.log(2.0)]])
    assert np.allclose(class_probabilities(logits, SPEC, 1, classes), [[0.25, 0.25, 0.5]])
    whole = class_probabilities(np.array([2.0, 0.0]), SPEC, 2, (0, 1, 2))
    assert whole.argmax(axis=1).tolist() == [2, 0]


def test_output_that_contradicts_the_task_is_a_task_mismatch() -> None:
    with pytest.raises(TaskMismatch, match="predict\\(\\) returned 2 class columns but there are 3 classes"):
        class_probabilities(np.ones((4, 2)) / 2, SPEC, 4, (0, 1, 2))
    with pytest.raises(TaskMismatch, match="looks like a regression model"):
        class_probabilities(np.array([1.5, 0.25]), SPEC, 2, (0, 1, 2))
    with pytest.raises(TaskMismatch, match="must return one value per row, predict\\(\\) returned shape \\(3, 3\\)"):
        regression_values(np.ones((3, 3)) / 3, SPEC, 3)
    with pytest.raises(TaskMismatch, match="must return numbers"):
        regression_values(np.array(["a", "b"]), SPEC, 2)
    assert issubclass(TaskMismatch, ValueError)


def test_task_scores_dispatch() -> None:
    assert task_scores(pd.DataFrame({"y": [1.5, 2.5]}), "regression", SPEC, 2, 1, ()).tolist() == [1.5, 2.5]
    assert task_scores(np.array([0.2, 0.9]), "binary", SPEC, 2, 1, ()).tolist() == [0.2, 0.9]


def test_multiclass_output_check() -> None:
    policy = OutputCheckGatePolicy()
    y = np.array([0, 1, 2, 0, 1, 2])
    constant = np.tile([0.6, 0.3, 0.1], (6, 1))
    result = check_task_outputs("multiclass", constant, y, ("a", "b", "c"), policy, "v2")
    assert result.status is GateStatus.FAILED
    assert result.summary == "v2 predicts class a for every row."
    never_c = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.45, 0.1, 0.45]] * 2)
    result = check_task_outputs("multiclass", never_c, y, ("a", "b", "c"), policy, "v2")
    assert result.status is GateStatus.WARNED  # class c never predicted, but its probabilities rank it
    assert "never predicts class c (2 eval rows hold it); its probabilities still rank it" in result.summary
    sound = np.eye(3)[y]
    assert check_task_outputs("multiclass", sound, y, ("a", "b", "c"), policy, "v2").status is GateStatus.PASSED


def test_regression_output_check() -> None:
    policy = OutputCheckGatePolicy()
    y = np.array([1.0, 2.0, 3.0])
    result = check_task_outputs("regression", np.full(3, 2.0), y, (), policy, "v3")
    assert (result.status, result.summary) == (GateStatus.FAILED, "v3 predicts 2 for every row.")
    assert check_task_outputs("regression", y + 0.1, y, (), policy, "v3").status is GateStatus.PASSED


def test_evaluation_defaults_and_champion_comparison_per_task() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    good = np.eye(3)[y] * 0.7 + 0.1
    bad = np.eye(3)[(y + (rng.random(600) < 0.4)) % 3] * 0.7 + 0.1
    policy = EvaluationGatePolicy(bootstrap={"resamples": 200})
    result = evaluate(y, good, bad, policy, "multiclass", ("a", "b", "c"))
    assert result.status is GateStatus.PASSED
    assert list(result.details["metrics"]) == ["accuracy"]  # the multiclass default rule
    assert result.details["per_class_recall"] == {"a": 1.0, "b": 1.0, "c": 1.0}
    assert evaluate(y, bad, good, policy, "multiclass").status is GateStatus.FAILED
    target = rng.normal(10, 2, 600)
    close, far = target + rng.normal(0, 0.5, 600), target + rng.normal(0, 2, 600)
    result = evaluate(target, close, far, policy, "regression")
    assert result.status is GateStatus.PASSED and list(result.details["metrics"]) == ["rmse"]
    assert evaluate(target, far, close, policy, "regression").status is GateStatus.FAILED


def test_black_box_regression_quality_is_minus_standardised_mae() -> None:
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    y = np.array([0.0, 1.0, 2.0, 3.0])

    def predict(data: pd.DataFrame) -> np.ndarray:
        return data["x"].to_numpy(dtype=float)

    shifted = frame + np.array([[0.0], [0.05], [0.5], [1.0]])
    clean, rows = black_box(predict, frame, y, 0.5, [("gaussian_noise", 0.1, shifted)], "regression", 2.0)
    assert clean == 0.0
    assert rows[0]["accuracy"] == pytest.approx(-(0.05 + 0.5 + 1.0) / 4 / 2.0)
    assert rows[0]["flip_rate"] == 0.5  # moved by more than REGRESSION_FLIP * 2.0 = 0.2: two rows of four
    assert REGRESSION_FLIP == 0.1


def test_policy_metric_names_must_fit_the_declared_task() -> None:
    base = {"model_name": "m", "eval_data": {"path": "e.csv", "target": "y"}}
    with pytest.raises(Exception, match="gates.evaluation.metrics: roc_auc do not apply to task regression"):
        parse_policy({**base, "task": "regression", "gates": {"evaluation": {"metrics": {"roc_auc": {}}}}})
    with pytest.raises(Exception, match="gates.bias.metrics: mae_difference do not apply to task multiclass"):
        parse_policy({**base, "task": "multiclass", "gates": {"bias": {"metrics": {"mae_difference": {}}}}})
    parsed = parse_policy({**base, "gates": {"evaluation": {"metrics": {"rmse": {"threshold": 40}}}}})
    assert parsed.gates.evaluation.rules_for("regression")["rmse"].threshold == 40


def test_a_regression_bias_section_draws_target_units() -> None:
    from tasks.report_charts import GroupPoint, group_plot

    points = [GroupPoint(label="a (n=40)", candidate=41.5, champion=38.0), GroupPoint(label="b (n=50)", candidate=52.0)]
    svg = group_plot(points, title="mae", names=("v2", "v1"))
    assert svg.startswith("<svg") and "%" not in svg


def test_class_columns_named_after_the_classes_are_read_in_class_order() -> None:
    frame = pd.DataFrame({"fish": [0.7, 0.1], "cat": [0.2, 0.1], "dog": [0.1, 0.8]})
    proba = class_probabilities(frame, SPEC, 2, ("cat", "dog", "fish"))
    assert proba.tolist() == [[0.2, 0.1, 0.7], [0.1, 0.8, 0.1]]


def test_a_regression_robustness_summary_speaks_of_mae() -> None:
    from gates.policy import RobustnessGatePolicy
    from gates.robustness import RobustnessProfile, judge

    rows = [{"perturbation": "gaussian_noise", "level": 0.1, "accuracy": -0.12, "flip_rate": 0.05}]
    profile = RobustnessProfile(
        clean_accuracy=-0.1, black_box=rows, white_box_note="no torch module", task="regression"
    )
    result = judge(profile, None, RobustnessGatePolicy())
    assert result.status is GateStatus.PASSED
    assert result.summary.startswith("All 1 robustness checks pass (clean MAE 0.100 target std) (no torch module); ")


def test_metrics_of_another_task_than_the_inferred_one_are_bad_input() -> None:
    from gates.model_task import Task
    from tasks.inputs import check_task_rules

    base = {"model_name": "m", "eval_data": {"path": "e.csv", "target": "y"}}
    policy = parse_policy({**base, "gates": {"evaluation": {"metrics": {"roc_auc": {"threshold": 0.7}}}}})
    inferred = Task("regression", "inferred: the target holds numbers that are not whole")
    with pytest.raises(BadInputError) as caught:
        check_task_rules(policy, inferred)
    assert str(caught.value) == (
        "policy gates.evaluation.metrics: roc_auc do not apply to a regression model (inferred: the target holds "
        "numbers that are not whole); use mae, mape, max_error, r2, rmse, or set task"
    )
    check_task_rules(policy, Task("binary", "inferred: the target holds two classes"))  # the binary default fits
