"""Models logged the way their users log them, for the conformance matrix (test_conformance.py).

Synthetic churn data: floats, an integer column, a string category, and a sensitive `group`
(independent of the label). Each family has three variants with the same inputs and architecture;
they differ only in what their training extract let them learn:

- GOOD: the clean extract;
- WEAKER (the champion to beat): `satisfaction` was scrambled in its extract, so it ignores it;
- WORSE: `usage_hours` was scrambled too. It still predicts both classes, with the same speed,
  inputs and fairness profile, so only the evaluation gate should object to it.

Every logger trains in well under a second and passes `pip_requirements` (no requirement inference).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature

Variant = Literal["good", "weaker", "worse"]
VARIANTS: tuple[Variant, ...] = ("weaker", "good", "worse")  # the order they are promoted in

INTEGER = "tenure_months"
FLOATS = ("monthly_charges", "usage_hours", "satisfaction")
NUMERIC = (INTEGER, *FLOATS)
CATEGORY = "plan"
PLANS = ("basic", "standard", "premium")
SENSITIVE = "group"
TARGET = "churned"
FEATURES = (*NUMERIC, CATEGORY)
SCRAMBLED: dict[Variant, tuple[str, ...]] = {
    "good": (),
    "weaker": ("satisfaction",),
    "worse": ("satisfaction", "usage_hours"),
}
TRAIN_ROWS, EVAL_ROWS = 4000, 2000


def churn_frame(rows: int, seed: int) -> pd.DataFrame:
    """Customer rows as an extract delivers them: int64, float64, strings, and the churn label."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 73, rows)
    charges = np.clip(rng.normal(70, 20, rows), 18, 120).round(2)
    usage = np.clip(rng.gamma(2.0, 10.0, rows), 0, 80).round(1)
    satisfaction = np.clip(rng.normal(6.5, 2.0, rows), 0, 10).round(1)
    plan = rng.choice(PLANS, rows, p=[0.5, 0.3, 0.2])
    group = rng.choice(["A", "B"], rows, p=[0.55, 0.45])
    plan_effect = pd.Series(plan).map({"basic": 0.5, "standard": 0.0, "premium": -0.6}).to_numpy()
    logit = (
        -0.3
        - (tenure - 36.5) / 20.8
        + 0.9 * (charges - 70) / 20
        - 0.5 * (usage - 20) / 14
        - 0.7 * (satisfaction - 6.5) / 2
        + plan_effect
    )
    churned = (rng.random(rows) < 1 / (1 + np.exp(-1.5 * logit))).astype("int64")
    return pd.DataFrame(
        {
            INTEGER: tenure,
            "monthly_charges": charges,
            "usage_hours": usage,
            "satisfaction": satisfaction,
            CATEGORY: plan,
            SENSITIVE: group,
            TARGET: churned,
        }
    )


@dataclass(frozen=True)
class ZooData:
    """The training extract (also the policy's reference data) and the eval files."""

    train: pd.DataFrame
    reference_path: Path
    eval_path: Path
    text_in_float_path: Path  # `monthly_charges` holds a few "unknown" strings
    missing_column_path: Path  # `satisfaction` is missing


def write_data(folder: Path) -> ZooData:
    """Write reference (Parquet) and eval (CSV) files, plus two broken eval files, under folder."""
    folder.mkdir(parents=True, exist_ok=True)
    train, evaluation = churn_frame(TRAIN_ROWS, seed=1), churn_frame(EVAL_ROWS, seed=2)
    paths = {
        "reference_path": folder / "churn_train.parquet",
        "eval_path": folder / "churn_eval.csv",
        "text_in_float_path": folder / "churn_eval_text_in_float.csv",
        "missing_column_path": folder / "churn_eval_missing_column.csv",
    }
    train.to_parquet(paths["reference_path"], index=False)
    evaluation.to_csv(paths["eval_path"], index=False)
    broken = evaluation.astype({"monthly_charges": object})
    broken.loc[broken.index[::97], "monthly_charges"] = "unknown"
    broken.to_csv(paths["text_in_float_path"], index=False)
    evaluation.drop(columns=["satisfaction"]).to_csv(paths["missing_column_path"], index=False)
    return ZooData(train=train, **paths)


def training_view(train: pd.DataFrame, variant: Variant) -> pd.DataFrame:
    """The extract this variant was trained on: its scrambled columns permuted (seeded)."""
    view = train.copy()
    rng = np.random.default_rng(7)
    for column in SCRAMBLED[variant]:
        view[column] = rng.permutation(view[column].to_numpy())
    return view


def _torch_requirement() -> str:
    import torch

    return f"torch=={torch.__version__.split('+')[0]}"


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Train on one thread: on a busy 2-core machine torch's second thread makes a tiny fit ~15x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fit_torch(x: np.ndarray, y: np.ndarray, *, normalise: bool = True, epochs: int = 200):
    """A tiny MLP (input BatchNorm, 16 hidden units) giving two-class logits, trained full-batch; eval mode."""
    import torch

    with _one_torch_thread():
        return _fit(torch, x, y, normalise, epochs)


def _fit(torch, x: np.ndarray, y: np.ndarray, normalise: bool, epochs: int):
    torch.manual_seed(0)
    layers = [torch.nn.BatchNorm1d(x.shape[1])] if normalise else []
    net = torch.nn.Sequential(*layers, torch.nn.Linear(x.shape[1], 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    inputs, labels = torch.from_numpy(np.asarray(x, dtype=np.float32)), torch.from_numpy(np.asarray(y, dtype=np.int64))
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(epochs):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(inputs), labels).backward()
        opt.step()
    return net.eval()


def _logits(net, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return net(torch.from_numpy(np.asarray(x, dtype=np.float32))).numpy()


def log_torch_pickle(name: str, train: pd.DataFrame, variant: Variant) -> str:
    """Family 1: mlflow.pytorch, pickle format, a named-column DataFrame signature of 32-bit columns.

    The user shrinks the frame to 32 bits for torch: float32 floats and an int32 integer column, so
    infer_signature says `float` and `integer` (int64 would say `long`). Output: two-class logits.
    """
    import mlflow.pytorch

    view = training_view(train, variant)
    frame32 = view[list(NUMERIC)].astype({INTEGER: "int32", **{c: "float32" for c in FLOATS}})
    net = fit_torch(frame32.to_numpy(np.float32), view[TARGET].to_numpy())
    logits = _logits(net, frame32.to_numpy(np.float32))
    with mlflow.start_run(run_name=f"{name}-{variant}"):
        info = mlflow.pytorch.log_model(
            net,
            name="model",
            signature=infer_signature(frame32, logits),
            input_example=frame32.head(),
            serialization_format="pickle",
            pip_requirements=[_torch_requirement()],
            registered_model_name=name,
        )
    return str(info.registered_model_version)


def log_torch_pt2(name: str, train: pd.DataFrame, variant: Variant) -> str:
    """Family 2: mlflow.pytorch, default (pt2) format, a tensor signature from a float32 numpy example.

    The tensor's columns are NUMERIC in order; the policy names them with `tensor_input_columns`.
    """
    import mlflow.pytorch

    view = training_view(train, variant)
    x = view[list(NUMERIC)].to_numpy(np.float32)
    net = fit_torch(x, view[TARGET].to_numpy())
    with mlflow.start_run(run_name=f"{name}-{variant}"):
        info = mlflow.pytorch.log_model(
            net,
            name="model",
            signature=infer_signature(x[:5], _logits(net, x[:5])),
            input_example=x[:5],
            pip_requirements=[_torch_requirement()],
            registered_model_name=name,
        )
    return str(info.registered_model_version)


def sklearn_pipeline():
    """One-hot of the plan, scaled numbers, logistic regression."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    columns = ColumnTransformer(
        [
            ("plan", OneHotEncoder(handle_unknown="ignore"), [CATEGORY]),
            ("numbers", StandardScaler(), list(NUMERIC)),
        ]
    )
    return Pipeline([("columns", columns), ("classifier", LogisticRegression(max_iter=1000))])


def log_sklearn(
    name: str, train: pd.DataFrame, variant: Variant, predict_fn: Literal["predict", "predict_proba"] = "predict"
) -> str:
    """Family 3: mlflow.sklearn, a Pipeline(ColumnTransformer, classifier) on the raw frame (string column).

    predict_fn "predict" (MLflow's default) makes pyfunc predict() return 0/1 labels; "predict_proba"
    makes it return an (n, 2) array of class probabilities.
    """
    import mlflow.sklearn
    import sklearn

    view = training_view(train, variant)
    x = view[list(FEATURES)]
    pipeline = sklearn_pipeline().fit(x, view[TARGET])
    with mlflow.start_run(run_name=f"{name}-{variant}"):
        info = mlflow.sklearn.log_model(
            pipeline,
            name="model",
            signature=infer_signature(x, getattr(pipeline, predict_fn)(x)),
            input_example=x.head(),
            pyfunc_predict_fn=predict_fn,
            pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
            registered_model_name=name,
        )
    return str(info.registered_model_version)


def log_lightgbm(name: str, train: pd.DataFrame, variant: Variant) -> str:
    """Family 4: mlflow.lightgbm, an LGBMClassifier (sklearn API) on the numeric columns as read (int64/float64).

    Its pyfunc predict() returns 0/1 labels (the flavour calls LGBMClassifier.predict).
    """
    import lightgbm
    import mlflow.lightgbm

    view = training_view(train, variant)
    x = view[list(NUMERIC)]
    model = lightgbm.LGBMClassifier(
        n_estimators=100, learning_rate=0.05, num_leaves=15, random_state=0, n_jobs=1, verbose=-1
    )
    model.fit(x, view[TARGET])
    with mlflow.start_run(run_name=f"{name}-{variant}"):
        info = mlflow.lightgbm.log_model(
            model,
            name="model",
            signature=infer_signature(x, model.predict(x)),
            input_example=x.head(),
            pip_requirements=[f"lightgbm=={lightgbm.__version__}", "scikit-learn"],
            registered_model_name=name,
        )
    return str(info.registered_model_version)


class ChurnClassifier(mlflow.pyfunc.PythonModel):
    """Family 5's custom pyfunc: encodes the raw columns, runs a torch MLP, returns probability and label."""

    def __init__(self, net, mean: list[float], std: list[float]) -> None:
        self.net, self.mean, self.std = net, mean, std

    def encode(self, frame: pd.DataFrame):
        import torch

        numbers = (frame[list(NUMERIC)].to_numpy(np.float64) - np.asarray(self.mean)) / np.asarray(self.std)
        plans = np.stack([(frame[CATEGORY] == p).to_numpy(np.float64) for p in PLANS], axis=1)
        return torch.from_numpy(np.concatenate([numbers, plans], axis=1).astype(np.float32))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        import torch

        with torch.no_grad():
            probability = torch.softmax(self.net(self.encode(model_input)), dim=1)[:, 1].numpy()
        return pd.DataFrame({"probability": probability, "label": (probability >= 0.5).astype("int64")})


def log_pyfunc_torch(name: str, train: pd.DataFrame, variant: Variant) -> str:
    """Family 5: a custom PythonModel wrapping torch, returning a DataFrame (probability, label).

    Logged as a user's script does: the class lives in the user's own file, so cloudpickle stores it by
    value (the serving side needs no copy of this module).
    """
    import cloudpickle

    view = training_view(train, variant)
    numbers = view[list(NUMERIC)].to_numpy(np.float64)
    wrapper = ChurnClassifier(None, numbers.mean(axis=0).tolist(), numbers.std(axis=0).tolist())
    wrapper.net = fit_torch(wrapper.encode(view).numpy(), view[TARGET].to_numpy(), normalise=False)
    example = view[list(FEATURES)].head()
    module = sys.modules[__name__]
    cloudpickle.register_pickle_by_value(module)
    try:
        with mlflow.start_run(run_name=f"{name}-{variant}"):
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=wrapper,
                signature=infer_signature(example, wrapper.predict(None, example)),
                input_example=example,
                pip_requirements=[_torch_requirement(), f"pandas=={pd.__version__}", "numpy"],
                registered_model_name=name,
            )
    finally:
        cloudpickle.unregister_pickle_by_value(module)
    return str(info.registered_model_version)


def log_onnx(name: str, train: pd.DataFrame, variant: Variant) -> str:
    """Family 6: scikit-learn converted with skl2onnx, logged with mlflow.onnx (the common route for tabular ONNX).

    Pipeline(StandardScaler, LogisticRegression) on the numeric columns as one float32 matrix, converted
    with `to_onnx(pipeline, x[:1], options={"zipmap": False})`: the graph takes one float32 tensor `X`
    and returns `label` (int64) and `probabilities` (float32, one column per class), so pyfunc predict()
    returns a dict of the two. A tensor signature; the policy names its columns with `tensor_input_columns`.
    """
    import mlflow.onnx
    import onnx
    import onnxruntime
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    view = training_view(train, variant)
    x = view[list(NUMERIC)].to_numpy(np.float32)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, view[TARGET].to_numpy())
    graph = to_onnx(pipeline, x[:1], options={"zipmap": False})
    session = onnxruntime.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    outputs = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"X": x[:5]}), strict=True))
    with mlflow.start_run(run_name=f"{name}-{variant}"):
        info = mlflow.onnx.log_model(
            graph,
            name="model",
            signature=infer_signature(x[:5], outputs),
            input_example=x[:5],
            pip_requirements=[f"onnx=={onnx.__version__}", f"onnxruntime=={onnxruntime.__version__}"],
            registered_model_name=name,
        )
    return str(info.registered_model_version)
