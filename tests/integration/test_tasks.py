"""Multiclass and regression models, logged as scikit-learn users log them, judged by the same gates.

Wine (three classes, `predict` returns the class label) under a policy that asks only for accuracy >= 0.6,
and diabetes progression (a regression) under RMSE/R² rules with a bias audit by sex; every other gate at
its defaults. The good model of each becomes champion with every gate passed or skipped; the worse one is
rejected by the evaluation gate alone; a policy whose task contradicts the model is a one-line error,
exit 2, registry unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import sklearn
from mlflow.models import infer_signature
from sklearn.datasets import load_diabetes, load_wine
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from flows.promote import promote
from gates.outcome import Outcome, PromotionOutcome
from modelgate.cli import main
from tests.integration.conftest import private_registry

pytestmark = pytest.mark.slow

WINE_POLICY = """\
model_name: {model}
eval_data: {{path: {eval_path}, target: target}}
gates:
  evaluation:
    metrics:
      accuracy: {{threshold: 0.6, max_regression: 0.02}}
"""

DIABETES_POLICY = """\
model_name: {model}
eval_data: {{path: {eval_path}, target: target}}
gates:
  evaluation:
    metrics:
      rmse: {{max_regression: 2.0}}
      r2: {{threshold: 0.3}}
  bias:
    sensitive_features: [sex]
    metrics:
      mae_difference: {{limit: 0.5, max_worsening: 0.1}}
"""


@dataclass
class TaskRun:
    model: str
    policy: str
    eval_path: Path
    versions: dict[str, str]
    results: dict[str, PromotionOutcome | BaseException] = field(default_factory=dict)


def _log(model: str, estimator, train: pd.DataFrame, name: str) -> str:
    x = train.drop(columns="target")
    estimator.fit(x, train["target"])
    with mlflow.start_run(run_name=name):
        info = mlflow.sklearn.log_model(
            estimator,
            name="model",
            signature=infer_signature(x, estimator.predict(x)),
            input_example=x.head(3),
            registered_model_name=model,
            pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
            skops_trusted_types=["sklearn.tree._tree.Tree"],
        )
    return str(info.registered_model_version)


def _data(kind: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, eval) rows: wine 78 / 100, diabetes 300 / 142, split with a fixed seed."""
    frame = (load_wine if kind == "wine" else load_diabetes)(as_frame=True).frame
    if kind == "wine":
        frame = frame.rename(columns={"od280/od315_of_diluted_wines": "od280_od315"})
    shuffled = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    cut = 78 if kind == "wine" else 300
    return shuffled.iloc[:cut], shuffled.iloc[cut:].reset_index(drop=True)


MODELS = {
    "wine": {
        "good": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
        "worse": lambda: DecisionTreeClassifier(max_depth=1, random_state=0),
    },
    "diabetes": {
        "good": lambda: make_pipeline(StandardScaler(), LinearRegression()),
        "worse": lambda: DecisionTreeRegressor(max_depth=1, random_state=0),
    },
}


@pytest.fixture(scope="module", params=["wine", "diabetes"])
def task_run(
    request: pytest.FixtureRequest, prefect_harness, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TaskRun]:
    """A private SQLite registry with the good and the worse model, promoted in that order."""
    kind = request.param
    root = tmp_path_factory.mktemp(kind)
    model = f"{kind}-model"
    train, evaluation = _data(kind)
    eval_path = root / "eval.csv"
    evaluation.to_csv(eval_path, index=False)
    policy = root / "policy.yaml"
    template = WINE_POLICY if kind == "wine" else DIABETES_POLICY
    policy.write_text(template.format(model=model, eval_path=eval_path))
    with private_registry(root):
        versions = {name: _log(model, make(), train, name) for name, make in MODELS[kind].items()}
        run = TaskRun(model=model, policy=str(policy), eval_path=eval_path, versions=versions)
        for name in ("good", "worse"):
            start = time.perf_counter()
            try:
                run.results[name] = promote(model=model, version=versions[name], policy_path=str(policy))
            except Exception as exc:  # reported by the case it belongs to
                run.results[name] = exc
            print(f"{kind} {name}: {time.perf_counter() - start:.1f} s")
        yield run


def _outcome(run: TaskRun, name: str) -> PromotionOutcome:
    result = run.results[name]
    if isinstance(result, BaseException):
        raise AssertionError(f"promotion of {name} raised {type(result).__name__}: {result}")
    return result


def _statuses(outcome: PromotionOutcome) -> dict[str, str]:
    return {g.gate: g.status.value for g in outcome.gates}


def _explain(outcome: PromotionOutcome) -> str:
    return "\n".join(f"{g.gate}: {g.status.value}: {g.summary}" for g in outcome.gates)


def test_the_good_model_becomes_champion_with_no_gate_failing(task_run: TaskRun) -> None:
    outcome = _outcome(task_run, "good")
    assert outcome.outcome is Outcome.PROMOTED, _explain(outcome)
    statuses = _statuses(outcome)
    kind = "wine" if task_run.model.startswith("wine") else "diabetes"
    expected = {
        "data_validation": "passed",
        "drift": "skipped",
        "provenance": "passed",  # logged without parameters or training data: reported, not required
        "output_check": "passed",
        "evaluation": "passed",
        "bias": "skipped" if kind == "wine" else "passed",
        "robustness": "passed",
        "latency": "passed",
        "integration": "passed",
    }
    assert statuses == expected, _explain(outcome)
    evaluation = next(g for g in outcome.gates if g.gate == "evaluation")
    assert evaluation.details["task"] == ("multiclass" if kind == "wine" else "regression")
    assert evaluation.details["task_reason"].startswith("inferred:")


def test_the_worse_model_is_rejected_by_the_evaluation_gate_alone(task_run: TaskRun) -> None:
    outcome = _outcome(task_run, "worse")
    assert outcome.outcome is Outcome.REJECTED, _explain(outcome)
    failed = sorted(g for g, s in _statuses(outcome).items() if s in ("failed", "errored"))
    assert failed == ["evaluation"], _explain(outcome)


def test_multiclass_metrics_and_per_class_recall(task_run: TaskRun) -> None:
    if not task_run.model.startswith("wine"):
        pytest.skip("multiclass only")
    evaluation = next(g for g in _outcome(task_run, "good").gates if g.gate == "evaluation")
    assert set(evaluation.details["per_class_recall"]) == {"0", "1", "2"}
    assert evaluation.details["metrics"]["accuracy"]["candidate"] >= 0.9


def test_a_task_that_contradicts_the_model_is_bad_input(task_run: TaskRun, tmp_path: Path, capsys) -> None:
    policy = tmp_path / "wrong-task.yaml"
    text = Path(task_run.policy).read_text()
    if task_run.model.startswith("wine"):
        wrong = text.replace("eval_data:", "task: regression\neval_data:").replace(
            "accuracy: {threshold: 0.6, max_regression: 0.02}", "rmse: {max_regression: 1.0}"
        )
    else:
        wrong = (
            text.replace("eval_data:", "task: multiclass\neval_data:")
            .replace(
                "      rmse: {max_regression: 2.0}\n      r2: {threshold: 0.3}", "      accuracy: {threshold: 0.5}"
            )
            .replace("mae_difference", "accuracy_difference")
        )
    policy.write_text(wrong)
    client = mlflow.MlflowClient()
    before = {(v.version, tuple(sorted(v.aliases))) for v in client.search_model_versions(f"name='{task_run.model}'")}
    runs_before = len(mlflow.search_runs(search_all_experiments=True))
    version = task_run.versions["worse"]
    code = main(["promote", "--model", task_run.model, "--version", version, "--policy", str(policy)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: "), err
    wanted = "but the model is a classifier" if task_run.model.startswith("wine") else "is not a class label"
    assert wanted in err[0], err[0]
    after = {(v.version, tuple(sorted(v.aliases))) for v in client.search_model_versions(f"name='{task_run.model}'")}
    assert after == before
    assert len(mlflow.search_runs(search_all_experiments=True)) == runs_before


def _torch_wine(model: str, train: pd.DataFrame) -> str:
    """A three-logit torch MLP logged as its users log it: 32-bit DataFrame signature, pickle format."""
    import mlflow.pytorch
    import torch

    frame32 = train.drop(columns="target").astype("float32")
    torch.manual_seed(0)
    width = frame32.shape[1]
    net = torch.nn.Sequential(
        torch.nn.BatchNorm1d(width), torch.nn.Linear(width, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)
    )
    x = torch.from_numpy(frame32.to_numpy())
    y = torch.from_numpy(train["target"].to_numpy(dtype="int64"))
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(200):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        logits = net(x).numpy()
    with mlflow.start_run(run_name="torch"):
        info = mlflow.pytorch.log_model(
            net,
            name="model",
            signature=infer_signature(frame32, logits),
            input_example=frame32.head(3),
            serialization_format="pickle",
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
            registered_model_name=model,
        )
    return str(info.registered_model_version)


def test_a_torch_multiclass_model_is_attacked_through_its_logits(prefect_harness, tmp_path: Path) -> None:
    train, evaluation = _data("wine")
    eval_path = tmp_path / "eval.csv"
    evaluation.to_csv(eval_path, index=False)
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        WINE_POLICY.format(model="wine-torch", eval_path=eval_path).replace(
            "eval_data:", "model_output: {kind: logits}\neval_data:"
        )
    )
    with private_registry(tmp_path):
        version = _torch_wine("wine-torch", train)
        outcome = promote(model="wine-torch", version=version, policy_path=str(policy))
    assert outcome.outcome is Outcome.PROMOTED, _explain(outcome)
    robustness = next(g for g in outcome.gates if g.gate == "robustness")
    assert robustness.status.value == "passed", _explain(outcome)
    white_box = robustness.details["candidate"]["white_box"]
    assert sorted(white_box) == ["fgsm", "pgd_linf"]
    assert all(0.0 <= acc <= 1.0 for by_eps in white_box.values() for acc in by_eps.values())
    evaluation_gate = next(g for g in outcome.gates if g.gate == "evaluation")
    assert evaluation_gate.details["task"] == "multiclass"


def test_eval_labels_outside_the_models_classes_are_bad_input(task_run: TaskRun, tmp_path: Path, capsys) -> None:
    if not task_run.model.startswith("wine"):
        pytest.skip("multiclass only")
    frame = pd.read_csv(task_run.eval_path)
    frame.loc[frame.index[:5], "target"] = 7
    eval_path = tmp_path / "eval-unknown-label.csv"
    frame.to_csv(eval_path, index=False)
    client = mlflow.MlflowClient()
    before = {(v.version, tuple(sorted(v.aliases))) for v in client.search_model_versions(f"name='{task_run.model}'")}
    version = task_run.versions["worse"]
    args = ["promote", "--model", task_run.model, "--version", version, "--policy", task_run.policy]
    code = main([*args, "--eval-data", str(eval_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == [f"error: candidate v{version}: label(s) 7 of the eval data are not among the model's classes"]
    after = {(v.version, tuple(sorted(v.aliases))) for v in client.search_model_versions(f"name='{task_run.model}'")}
    assert after == before
