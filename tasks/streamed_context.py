"""Streamed eval data in the gates' context: evaluation, bias and the output check judge every row, the other
gates the seeded sample (tasks.stream_data)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from gates.context import GateContext, ModelScores
from tasks.eval_data import EvalData


def sample_counts(ctx: GateContext, data: EvalData) -> GateContext:
    """The context with the whole data's row and null counts, when the data was streamed."""
    if data.full is None:
        return ctx
    return replace(ctx, whole_rows=data.full.rows, whole_nulls=dict(data.full.nulls))


def whole_context(ctx: GateContext, data: EvalData, scores: dict[str, ModelScores]) -> GateContext | None:
    """Every row's kept columns, labels and scores (None unless the data was streamed)."""
    if data.full is None:
        return None
    y = data.full_y if data.full_y is not None else np.empty(0)
    # predict() as served is compared on the sample only (integration): every row's copy is not kept
    whole = {label: replace(s, served=None) for label, s in scores.items()}
    return replace(ctx, frame=data.full.columns, y=y).with_scores(whole["candidate"], whole.get("champion"))


def at_rows(scores: ModelScores | None, idx: NDArray) -> ModelScores | None:
    """A model's scores on some of the rows."""
    if scores is None:
        return None
    values = None if scores.values is None else scores.values[idx]
    return replace(scores, values=values, served=None if scores.served is None else scores.served[idx])


def at_sample(data: EvalData, scores: dict[str, ModelScores]) -> dict[str, ModelScores]:
    """Each model's scores on the sample's rows (the scores as given when the data was not streamed); predict() as
    served came from the judge on the sample's rows only."""
    if data.full is None:
        return scores
    idx = data.full.sample_index
    return {label: replace(s, values=None if s.values is None else s.values[idx]) for label, s in scores.items()}
