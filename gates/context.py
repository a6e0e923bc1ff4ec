"""What every gate reads: the eval data, each model's scores from the judging side, and shared settings."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from gates.model_input import InputSchema
from gates.model_task import BINARY, Task
from gates.policy import PromotionPolicy


@dataclass(frozen=True)
class ModelScores:
    """One model's scores on the eval rows, or why there are none: positive-class probabilities (binary), class
    probabilities, one column per class (multiclass), or predicted values (regression)."""

    version: str
    values: NDArray | None  # what the gates judge
    served: NDArray | None = None  # predict() as served, read as scores (equals `values` unless predict_proba)
    error: str | None = None
    source: str = "predict()"
    seconds: float = 0.0
    timed_out: bool = False
    access_attempts: tuple[str, ...] = ()
    bad_input: bool = False  # the output contradicts the task: a bad input, not a model failure

    @property
    def usable(self) -> bool:
        """Scores exist and can be judged."""
        return self.values is not None and self.error is None

    def predictions(self, threshold: float, dtype: type = int) -> NDArray | None:
        """0/1 predictions at the decision threshold."""
        return None if self.values is None else (self.values >= threshold).astype(dtype)


@dataclass(frozen=True)
class GateContext:
    """Inputs shared by every gate of one attempt; built once, read by each gate's step."""

    policy: PromotionPolicy
    frame: pd.DataFrame
    y: NDArray
    reference: pd.DataFrame | None
    schema: InputSchema
    candidate: ModelScores | None = None
    champion: ModelScores | None = None
    data_hash: str = ""
    reference_hash: str | None = None
    task: Task = BINARY
    whole_rows: int | None = None  # streamed data: rows of the whole data, of which `frame` is a seeded sample
    whole_nulls: dict[str, int] | None = None  # streamed data: each column's nulls over every row

    @property
    def task_name(self) -> str:
        """binary, multiclass or regression."""
        return self.task.name

    def predicted(self, scores: ModelScores | None, dtype: type = int) -> NDArray | None:
        """A model's predictions: 0/1 at the threshold (binary, as `dtype`), class indices (multiclass), values
        (regression)."""
        if scores is None or scores.values is None:
            return None
        if self.task.name == "multiclass":
            return np.asarray(scores.values).argmax(axis=1)
        if self.task.name == "regression":
            return np.asarray(scores.values, dtype=np.float64)
        return scores.predictions(self.threshold, dtype)

    @property
    def threshold(self) -> float:
        """The decision threshold every gate predicts with (the evaluation policy's)."""
        return self.policy.gates.evaluation.decision_threshold

    def candidate_predictions(self, dtype: type = int) -> NDArray | None:
        """The candidate's predictions (see `predicted`)."""
        return self.predicted(self.candidate, dtype)

    def champion_predictions(self, dtype: type = int) -> NDArray | None:
        """The champion's predictions, when it has usable scores."""
        if self.champion is None or not self.champion.usable:
            return None
        return self.predicted(self.champion, dtype)

    def with_scores(self, candidate: ModelScores, champion: ModelScores | None) -> GateContext:
        """The same context with the models' scores."""
        return replace(self, candidate=candidate, champion=champion)

    @property
    def target_scale(self) -> float:
        """Regression: the eval target's standard deviation (1 when it is constant); 1 for classification."""
        if self.task.name != "regression":
            return 1.0
        return float(np.std(self.labels)) or 1.0

    @property
    def labels(self) -> NDArray:
        """The labels: 0/1 or class indices as ints (as narrow as given: streamed 0/1 labels are one byte a row),
        target values as floats (regression)."""
        if self.task.name == "regression":
            return np.asarray(self.y, dtype=np.float64)
        y = np.asarray(self.y)
        return y if y.dtype.kind in "iu" else y.astype(int)
