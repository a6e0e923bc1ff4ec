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
