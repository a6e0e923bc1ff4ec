"""Small models logged for tests: one that raises at predict time, and a scikit-learn pipeline."""

from __future__ import annotations

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.models import infer_signature

from demo.adult_data import FEATURES, load_eval


class RaisingModel(mlflow.pyfunc.PythonModel):
    """Accepts the Adult columns, then fails the way a broken backend would."""

    def predict(self, context, model_input: pd.DataFrame, params=None):
        if len(model_input) > 5:
            raise RuntimeError("scoring backend unavailable")
        return pd.DataFrame({"probability": [0.5] * len(model_input)})


def log_raising_model(name: str) -> str:
    example = load_eval()[FEATURES].head(5)
    signature = infer_signature(example, pd.DataFrame({"probability": [0.5] * 5}))
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=RaisingModel(),
            signature=signature,
            input_example=example,
            pip_requirements=["pandas"],
            registered_model_name=name,
        )
    return str(info.registered_model_version)


def log_sklearn_model(
    name: str, frame: pd.DataFrame, features: list[str], target: str, c: float, signed: bool = True
) -> str:
    """A scikit-learn logistic regression logged with the sklearn flavour (predict returns 0/1 labels); with
    signed=False as the quickstart logs it: no signature, no input example."""
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=200).fit(frame[features], frame[target])
    example = frame[features].head(5)
    described = {"signature": infer_signature(example, model.predict(example)), "input_example": example}
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            pip_requirements=["scikit-learn"],
            registered_model_name=name,
            **(described if signed else {}),
        )
    return str(info.registered_model_version)


def log_torch_model(name: str, frame: pd.DataFrame, features: list[str], target: str, fmt: str) -> str:
    """A small torch MLP logged with the pytorch flavour: pt2 (tensor signature) or pickle (named columns)."""
    import mlflow.pytorch
    import torch

    torch.manual_seed(0)
    x = torch.from_numpy(frame[features].to_numpy("float32", copy=True))
    y = torch.from_numpy(frame[target].to_numpy("int64", copy=True))
    net = torch.nn.Sequential(torch.nn.Linear(len(features), 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    net.eval()
    logits = net(x[:5]).detach().numpy()
    if fmt == "pt2":
        example = x[:5].numpy()
        signature = infer_signature(example, logits)
    else:
        example = frame[features].head(5).astype("float32")
        signature = infer_signature(example, logits)
    with mlflow.start_run():
        info = mlflow.pytorch.log_model(
            net,
            name="model",
            signature=signature,
            input_example=example,
            serialization_format=fmt,
            pip_requirements=["torch==2.13.0"],
            registered_model_name=name,
        )
    return str(info.registered_model_version)


class FrozenTorchModel(mlflow.pyfunc.PythonModel):
    """Offers a torch view whose forward pass cuts the gradient (as a model compiled for inference might)."""

    def load_context(self, context):
        import torch

        torch.manual_seed(0)
        self.net = torch.nn.Linear(3, 2)

    def torch_module(self):
        import torch

        def forward(x):
            with torch.no_grad():
                return self.net(x)

        return forward

    def encode(self, frame: pd.DataFrame):
        import torch

        return torch.from_numpy(frame[["a", "b", "c"]].to_numpy("float32", copy=True))

    def continuous_columns(self):
        return [0, 1, 2]

    def predict(self, context, model_input: pd.DataFrame, params=None):
        import torch

        with torch.no_grad():
            logits = self.net(self.encode(model_input))
        return torch.softmax(logits, 1)[:, 1].numpy()


class CategoryModel(mlflow.pyfunc.PythonModel):
    """Takes only string columns: scores 0.9 when colour is red."""

    def predict(self, context, model_input: pd.DataFrame, params=None):
        return (model_input["colour"].astype(str) == "red").astype(float).to_numpy() * 0.8 + 0.1


def log_python_model(name: str, model: mlflow.pyfunc.PythonModel, example: pd.DataFrame) -> str:
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=model,
            signature=infer_signature(example, model_output=np.zeros(len(example))),
            input_example=example,
            pip_requirements=["torch==2.13.0"],
            registered_model_name=name,
        )
    return str(info.registered_model_version)


class HangsOnSingleRows(mlflow.pyfunc.PythonModel):
    """Answers batches, hangs on a single row (as a model stuck on a lock or a remote call might)."""

    def predict(self, context, model_input: pd.DataFrame, params=None):
        import time

        if len(model_input) == 1:
            time.sleep(600)
        return np.full(len(model_input), 0.5)


class RegistryReader(mlflow.pyfunc.PythonModel):
    """Scores columns a and b well, and on the way tries to read the model registry (as a model that looks up
    its own champion might)."""

    def predict(self, context, model_input: pd.DataFrame, params=None):
        try:
            mlflow.MlflowClient().search_registered_models(max_results=1)
        except Exception:
            pass
        z = model_input["a"].to_numpy() + 0.5 * model_input["b"].to_numpy()
        return 1 / (1 + np.exp(-2 * z))


class SlowAtFirst(mlflow.pyfunc.PythonModel):
    """Takes 100 ms for its first 30 batches of seven rows, then answers at once (a burst of load, seen from
    inside)."""

    def predict(self, context, model_input: pd.DataFrame, params=None):
        import time

        if len(model_input) == 7:
            self.sevens = getattr(self, "sevens", 0) + 1
            if self.sevens <= 30:
                time.sleep(0.1)
        return np.full(len(model_input), 0.5)
