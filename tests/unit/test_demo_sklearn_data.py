"""The demo's committed wine and diabetes CSVs are the documented split of scikit-learn's copies."""

from __future__ import annotations

import pandas as pd
import pytest

from demo.sklearn_data import DIABETES, RECIPES, WINE, DemoData, training_frame


@pytest.mark.parametrize("data", [WINE, DIABETES], ids=lambda d: d.name)
def test_committed_csvs_are_the_seeded_split(data: DemoData) -> None:
    for expected, path in zip(data.split(), data.paths(), strict=True):
        pd.testing.assert_frame_equal(pd.read_csv(path), expected)
    train, evaluation = data.split()
    assert len(train) == data.train_rows and len(evaluation) >= 100  # the data validation gate's default min_rows


def test_the_miscoded_recipe_moves_only_sex_2_labels() -> None:
    clean, shifted = training_frame(RECIPES["linear"]), training_frame(RECIPES["miscoded-sex-2"])
    moved = shifted["progression"] - clean["progression"]
    assert set(moved[clean["sex"] == 2]) == {20} and set(moved[clean["sex"] == 1]) == {0}
