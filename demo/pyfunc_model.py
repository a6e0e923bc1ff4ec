"""MLflow pyfunc wrapper: raw Adult rows in, a DataFrame of probability and label out."""

from __future__ import annotations

import json
from typing import Any

import mlflow.pyfunc
import pandas as pd
import torch
from torch import nn

from demo.adult_model import Preprocessor, build_mlp, positive_probability, widen


class AdultIncomeClassifier(mlflow.pyfunc.PythonModel):
    """Loads the preprocessing (JSON) and MLP weights (state_dict) logged as artifacts."""

    def load_context(self, context: Any) -> None:
        with open(context.artifacts["preprocessor"]) as fh:
            self.preprocessor = Preprocessor(**json.load(fh))
        with open(context.artifacts["architecture"]) as fh:
            arch = json.load(fh)
        self.module: nn.Module = build_mlp(self.preprocessor.width, tuple(arch["hidden"]))
        if arch.get("widen_depth"):
            self.module = widen(self.module, arch["widen_width"], arch["widen_depth"], init_identity=False)
        self.module.load_state_dict(torch.load(context.artifacts["weights"], weights_only=True))
        self.module.eval()

    # The torch view used by white-box robustness attacks: module, encoder, continuous columns.
    def torch_module(self) -> nn.Module:
        """The MLP: encoded rows in, two logits out."""
        return self.module

    def encode(self, frame: pd.DataFrame) -> torch.Tensor:
        """Raw rows to the MLP's float32 inputs."""
        return self.preprocessor.transform(frame)

    def continuous_columns(self) -> list[int]:
        """Indices of the encoded inputs that are continuous (the numeric features; one-hots are not)."""
        return list(range(len(self.preprocessor.numeric)))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        proba = positive_probability(self.preprocessor, self.module, model_input)
        return pd.DataFrame({"probability": proba, "label": (proba >= 0.5).astype("int64")})
