"""Image classifiers logged as torch users log them (mlflow.pytorch, a tensor signature (-1, 1, 12, 12)), judged
on .npz eval arrays by every gate: synthetic images of oriented bars (horizontal, vertical, diagonal) with noise.

The good CNN becomes champion with every gate passed (bias skipped: no sensitive feature); an undertrained one
is rejected by the evaluation gate alone; eval arrays of the wrong shape or dtype, labels the model has no
class for, and a policy task that contradicts the model are one-line errors, exit 2, registry unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pytest

from flows.promote import promote
from gates.outcome import Outcome, PromotionOutcome
from modelgate.cli import main
from tests.integration.conftest import private_registry
from tests.integration.test_tasks import _explain, _outcome

pytestmark = pytest.mark.slow

SIDE = 12
POLICY = """\
model_name: {model}
task: multiclass
eval_data: {{path: {eval_path}, target: bar, value_range: [0, 1]}}
reference_data: {{path: {reference_path}}}
model_output: {{kind: logits}}
gates:
  evaluation:
    bootstrap: {{resamples: 300, confidence: 0.95, seed: 0}}
    metrics:
      accuracy: {{threshold: 0.8, max_regression: 0.02}}
  robustness:
    attacks: [fgsm, pgd_linf]
    epsilons: [2/255, 8/255]
    pgd_steps: 5
    max_rows: 300
    max_worse_than_champion: 0.15   # an undertrained CNN loses ~12 points more under attack: left to evaluation
    noise_levels: [0.1]
  latency:
    batch_sizes: [1, 32]
    iterations: 30
    slo_p95_ms: {{1: 500, 32: 1000}}
    max_regression: 3.0
    min_regression_ms: 20
  integration:
    sample_rows: 50
    single_rows: 5
    serve: true
"""


def bars(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(inputs float32 (rows, 1, SIDE, SIDE) in [0, 1], labels 0 horizontal / 1 vertical / 2 diagonal)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, rows)
    images = rng.normal(0.15, 0.08, (rows, SIDE, SIDE))
    offsets = rng.integers(2, SIDE - 2, rows)
    idx = np.arange(SIDE)
    for i, (label, at) in enumerate(zip(labels, offsets, strict=True)):
        if label == 0:
            images[i, at, :] += 0.7
        elif label == 1:
            images[i, :, at] += 0.7
        else:
            images[i, idx, (idx + at) % SIDE] += 0.7
    return np.clip(images, 0, 1).astype(np.float32)[:, None], labels.astype(np.int64)


def log_cnn(model: str, inputs: np.ndarray, labels: np.ndarray, epochs: int) -> str:
    """A small CNN trained for `epochs` and logged with mlflow.pytorch and an inferred tensor signature."""
    import torch
    from mlflow.models import infer_signature

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(6 * (SIDE // 2) ** 2, 3),
    )
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    x, y = torch.from_numpy(inputs), torch.from_numpy(labels)
    for _ in range(epochs):
        for start in range(0, len(x), 64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x[start : start + 64]), y[start : start + 64]).backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        logits = net(x[:20]).numpy()
    with mlflow.start_run(run_name=f"cnn-{epochs}"):
        info = mlflow.pytorch.log_model(
            net,
            name="model",
            signature=infer_signature(inputs[:20], logits),
            input_example=inputs[:2],
            registered_model_name=model,
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
        )
    return str(info.registered_model_version)


@dataclass
class ImageRun:
    model: str
    policy: Path
    eval_path: Path
    versions: dict[str, str]
    results: dict[str, PromotionOutcome | BaseException] = field(default_factory=dict)


@pytest.fixture(scope="module")
def image_run(prefect_harness, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImageRun]:
    """A private registry with a good and an undertrained CNN, promoted in that order."""
    root = tmp_path_factory.mktemp("images")
    train, evaluation = bars(900, seed=0), bars(400, seed=1)
    np.savez(root / "train.npz", inputs=train[0], labels=train[1])
    np.savez(root / "eval.npz", inputs=evaluation[0], labels=evaluation[1])
    policy = root / "policy.yaml"
    model = "bars-cnn"
    policy.write_text(POLICY.format(model=model, eval_path=root / "eval.npz", reference_path=root / "train.npz"))
    with private_registry(root):
        versions = {"good": log_cnn(model, *train, epochs=8), "worse": log_cnn(model, *train, epochs=1)}
        run = ImageRun(model=model, policy=policy, eval_path=root / "eval.npz", versions=versions)
        for name in ("good", "worse"):
            try:
                run.results[name] = promote(model=model, version=versions[name], policy_path=str(policy))
            except Exception as exc:  # reported by the case it belongs to
                run.results[name] = exc
        yield run


def _gate(outcome: PromotionOutcome, name: str):
    (found,) = [g for g in outcome.gates if g.gate == name]
    return found


def test_the_good_cnn_becomes_champion_with_every_gate_passed(image_run: ImageRun) -> None:
    outcome = _outcome(image_run, "good")
    assert outcome.outcome is Outcome.PROMOTED, _explain(outcome)
    assert {g.gate: g.status.value for g in outcome.gates} == {
        "data_validation": "passed",
        "drift": "passed",
        "provenance": "passed",  # logged without parameters or training data: reported, not required
        "output_check": "passed",
        "evaluation": "passed",
        "bias": "skipped",
        "robustness": "passed",
        "latency": "passed",
        "integration": "passed",
    }, _explain(outcome)
    validation = _gate(outcome, "data_validation")
    assert validation.details["array_shape"] == [1, SIDE, SIDE] and validation.details["value_range"] == [0.0, 1.0]
    drift = _gate(outcome, "drift")
    assert [c["column"] for c in drift.details["columns"]] == ["channel_0_mean", "channel_0_std"]
    assert "per-row summaries" in drift.summary
    robustness = _gate(outcome, "robustness").details["candidate"]
    assert sorted(robustness["white_box"]) == ["fgsm", "pgd_linf"]
    assert [r["perturbation"] for r in robustness["black_box"]] == [
        "gaussian_noise",
        "blur",
        "brightness",
        "contrast",
        "occlusion",
    ]
    integration = _gate(outcome, "integration")
    assert "HTTP inputs answers match" in [c["name"] for c in integration.details["checks"]]  # tensor JSON


def test_the_undertrained_cnn_is_rejected_by_the_evaluation_gate_alone(image_run: ImageRun) -> None:
    outcome = _outcome(image_run, "worse")
    assert outcome.outcome is Outcome.REJECTED, _explain(outcome)
    assert outcome.decision.failing_gates == ("evaluation",), _explain(outcome)


def _bad_input(run: ImageRun, capsys, *, eval_path: Path | None = None, policy: Path | None = None) -> str:
    """The one error line of a promotion that must stop before anything is written."""
    client = mlflow.MlflowClient()
    before = {
        (v.version, tuple(sorted(v.aliases)), tuple(sorted(v.tags.items())))
        for v in client.search_model_versions(f"name='{run.model}'")
    }
    runs_before = len(mlflow.search_runs(search_all_experiments=True))
    args = ["promote", "--model", run.model, "--version", run.versions["worse"]]
    args += ["--policy", str(policy or run.policy)]
    if eval_path is not None:
        args += ["--eval-data", str(eval_path)]
    capsys.readouterr()
    code = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("error: "), err
    after = {
        (v.version, tuple(sorted(v.aliases)), tuple(sorted(v.tags.items())))
        for v in client.search_model_versions(f"name='{run.model}'")
    }
    assert after == before
    assert len(mlflow.search_runs(search_all_experiments=True)) == runs_before
    return err[0]


def test_eval_arrays_of_the_wrong_shape_are_bad_input(image_run: ImageRun, tmp_path: Path, capsys) -> None:
    inputs, labels = bars(200, seed=2)
    np.savez(tmp_path / "small.npz", inputs=inputs[:, :, :10, :10], labels=labels)
    error = _bad_input(image_run, capsys, eval_path=tmp_path / "small.npz")
    assert error == (
        f"error: v{image_run.versions['worse']} on eval data {tmp_path / 'small.npz'}: the model's tensor input has "
        f"shape [-1, 1, {SIDE}, {SIDE}]; the eval data gives 100 values per row (tensor_input_columns, or the eval "
        "arrays flattened)"
    )


def test_eval_arrays_of_the_wrong_dtype_are_bad_input(image_run: ImageRun, tmp_path: Path, capsys) -> None:
    np.savez(tmp_path / "text.npz", inputs=np.full((200, 1, SIDE, SIDE), "x"), labels=np.zeros(200, dtype=int))
    error = _bad_input(image_run, capsys, eval_path=tmp_path / "text.npz")
    assert error == f"error: eval data {tmp_path / 'text.npz'}: inputs must be numbers, got dtype <U1"


def test_labels_the_model_has_no_class_for_are_bad_input(image_run: ImageRun, tmp_path: Path, capsys) -> None:
    inputs, labels = bars(200, seed=3)
    labels[:4] = 5
    np.savez(tmp_path / "labels.npz", inputs=inputs, labels=labels)
    error = _bad_input(image_run, capsys, eval_path=tmp_path / "labels.npz")
    assert error == (
        f"error: candidate v{image_run.versions['worse']}: predict() returned 3 class columns but there are 4 "
        "classes (0, 1, 2, 5); set model_output.classes"
    )


def test_a_regression_policy_for_the_cnn_is_bad_input(image_run: ImageRun, tmp_path: Path, capsys) -> None:
    policy = tmp_path / "regression.yaml"
    text = image_run.policy.read_text().replace("task: multiclass", "task: regression")
    policy.write_text(text.replace("accuracy: {threshold: 0.8, max_regression: 0.02}", "rmse: {max_regression: 1.0}"))
    error = _bad_input(image_run, capsys, policy=policy)
    assert error == (
        f"error: candidate v{image_run.versions['worse']}: a regression model must return one value per row, "
        "predict() returned shape (400, 3) (class scores?); set task, or model_output.column"
    )
