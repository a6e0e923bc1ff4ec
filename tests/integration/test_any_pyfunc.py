"""The pipeline works on any registered pyfunc with a signature, not only the demo's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flows.promote import promote_version
from gates.outcome import Outcome
from tasks import registry as reg
from tests.integration.models import log_sklearn_model

POLICY = """
model_name: synthetic-lr
eval_data: {{path: {path}, target: y}}
model_output: {{kind: label}}
gates:
  evaluation:
    metrics:
      accuracy: {{threshold: 0.6, min_absolute_change: 0.01}}
"""


@pytest.fixture
def synthetic(registry, tmp_path):
    rng = np.random.default_rng(0)
    n = 4000
    x = rng.normal(size=(n, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.5, size=n) > 0).astype("int64")
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": y})
    frame.iloc[:2000].to_parquet(tmp_path / "eval.parquet")
    train = frame.iloc[2000:]
    weak = log_sklearn_model("synthetic-lr", train, ["c"], "y", 1.0)  # sees only noise
    strong = log_sklearn_model("synthetic-lr", train, ["a", "b", "c"], "y", 1.0)
    policy = tmp_path / "synthetic-lr.yaml"
    policy.write_text(POLICY.format(path=tmp_path / "eval.parquet"))
    return weak, strong, str(policy)


def test_sklearn_labels_and_parquet(registry, synthetic):
    weak, strong, policy = synthetic
    first = promote_version("synthetic-lr", weak, policy)
    assert first.outcome is Outcome.REJECTED  # fails the absolute accuracy threshold
    second = promote_version("synthetic-lr", strong, policy)
    assert second.outcome is Outcome.PROMOTED, second.decision.reasons
    assert second.champion_before is None and second.champion_after == strong


def test_compare_and_set_refuses_when_champion_moved(registry):
    c = registry.client()
    c.set_registered_model_alias("adult-income", "champion", "1")
    # The flow compared against v1, but someone moved the champion to v3 meanwhile.
    c.set_registered_model_alias("adult-income", "champion", "3")
    move = reg.compare_and_set_champion(c, "adult-income", "2", "1", "champion", "previous-champion")
    assert not move.moved and "stale" in move.message
    assert str(c.get_model_version_by_alias("adult-income", "champion").version) == "3"
    assert reg.champion(c, "adult-income", "previous-champion") is None

    move = reg.compare_and_set_champion(c, "adult-income", "2", "3", "champion", "previous-champion")
    assert move.moved and move.champion_before == "3" and move.champion_after == "2"
    assert str(c.get_model_version_by_alias("adult-income", "previous-champion").version) == "3"
