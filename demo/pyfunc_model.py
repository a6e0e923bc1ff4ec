"""MLflow pyfunc wrapper: raw Adult rows in, a DataFrame of probability and label out."""

from __future__ import annotations

import json
from typing import Any

import mlflow.pyfunc
import pandas as pd
import torch
from torch import nn

from demo.adult_model import Preprocessor, build_mlp, positive_probability


class AdultIncomeClassifier(mlflow.pyfunc.PythonModel):
    """Loads the preprocessing (JSON) and MLP weights (state_dict) logged as artifacts."""

    def load_context(self, context: Any) -> None:
        with open(context.artifacts["preprocessor"]) as fh:
            self.preprocessor = Preprocessor(**json.load(fh))
        with open(context.artifacts["architecture"]) as fh:
            hidden = tuple(json.load(fh)["hidden"])
        self.module: nn.Module = build_mlp(self.preprocessor.width, hidden)
        self.module.load_state_dict(torch.load(context.artifacts["weights"], weights_only=True))
        self.module.eval()

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        proba = positive_probability(self.preprocessor, self.module, model_input)
        return pd.DataFrame({"probability": proba, "label": (proba >= 0.5).astype("int64")})
