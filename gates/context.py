"""What every gate reads: the eval data, each model's scores from the judging side, and shared settings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from gates.model_input import InputSchema
from gates.policy import PromotionPolicy


@dataclass(frozen=True)
class ModelScores:
    """One model's positive-class scores on the eval rows, or why there are none."""

    version: str
    values: NDArray | None  # what the gates judge
    served: NDArray | None = None  # predict() as served, read as scores (equals `values` unless predict_proba)
    error: str | None = None
    source: str = "predict()"
    seconds: float = 0.0
    timed_out: bool = False
    access_attempts: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        """Scores exist and can be judged."""
        return self.values is not None and self.error is None

    def predictions(self, threshold: float) -> NDArray | None:
        """0/1 predictions at the decision threshold."""
        return None if self.values is None else (self.values >= threshold).astype(int)


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

    @property
    def threshold(self) -> float:
        """The decision threshold every gate predicts with (the evaluation policy's)."""
        return self.policy.gates.evaluation.decision_threshold

    def candidate_predictions(self) -> NDArray | None:
        """The candidate's 0/1 predictions."""
        return None if self.candidate is None else self.candidate.predictions(self.threshold)

    def champion_predictions(self) -> NDArray | None:
        """The champion's 0/1 predictions, when it has usable scores."""
        if self.champion is None or not self.champion.usable:
            return None
        return self.champion.predictions(self.threshold)

    def with_scores(self, candidate: ModelScores, champion: ModelScores | None) -> GateContext:
        """The same context with the models' scores."""
        return GateContext(
            policy=self.policy,
            frame=self.frame,
            y=self.y,
            reference=self.reference,
            schema=self.schema,
            candidate=candidate,
            champion=champion,
            data_hash=self.data_hash,
            reference_hash=self.reference_hash,
        )

    @property
    def labels(self) -> NDArray:
        """The 0/1 labels as an int array."""
        return np.asarray(self.y, dtype=int)
