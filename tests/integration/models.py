"""Small models logged for tests: one that raises at predict time, and a scikit-learn pipeline."""

from __future__ import annotations

import mlflow
import mlflow.pyfunc
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


def log_sklearn_model(name: str, frame: pd.DataFrame, features: list[str], target: str, c: float) -> str:
    """A scikit-learn logistic regression logged with the sklearn flavour (predict returns 0/1 labels)."""
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=200).fit(frame[features], frame[target])
    example = frame[features].head(5)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(example, model.predict(example)),
            input_example=example,
            pip_requirements=["scikit-learn"],
            registered_model_name=name,
        )
    return str(info.registered_model_version)
