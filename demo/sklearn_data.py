"""The demo's scikit-learn data sets and models: wine cultivars (multiclass) and diabetes progression (regression).

Both data sets ship with scikit-learn (BSD-3-Clause); run as a module to write the split CSVs in data/.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.datasets import load_diabetes, load_wine
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

DATA_ROOT = Path(__file__).resolve().parent.parent / "data"
SPLIT_SEED = 0


def _wine() -> pd.DataFrame:
    frame = load_wine(as_frame=True).frame
    return frame.rename(columns={"od280/od315_of_diluted_wines": "od280_od315", "target": "cultivar"})


def _diabetes() -> pd.DataFrame:
    """The original units (scaled=False): age in years, sex coded 1/2, BMI, blood pressure, six serum values."""
    frame = load_diabetes(as_frame=True, scaled=False).frame.rename(columns={"target": "progression"})
    return frame.astype({"age": "int64", "sex": "int64", "progression": "int64"})


@dataclass(frozen=True)
class DemoData:
    """One data set: where its CSVs live, its target, and how many shuffled rows go to training."""

    name: str
    target: str
    train_rows: int
    load: Callable[[], pd.DataFrame]

    @property
    def folder(self) -> Path:
        return DATA_ROOT / f"sklearn-{self.name}"

    def paths(self) -> tuple[Path, Path]:
        """Paths of the train and eval CSVs."""
        return self.folder / f"{self.name}_train.csv", self.folder / f"{self.name}_eval.csv"

    def split(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(train, eval): the whole data set shuffled with a fixed seed, cut after `train_rows`."""
        shuffled = self.load().sample(frac=1.0, random_state=SPLIT_SEED).reset_index(drop=True)
        return shuffled.iloc[: self.train_rows], shuffled.iloc[self.train_rows :].reset_index(drop=True)

    def write(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for frame, path in zip(self.split(), self.paths(), strict=True):
            frame.to_csv(path, index=False)

    def load_train(self) -> pd.DataFrame:
        return pd.read_csv(self.paths()[0])


WINE = DemoData("wine", "cultivar", 78, _wine)  # 178 rows: 78 to train on, 100 to judge on
DIABETES = DemoData("diabetes", "progression", 242, _diabetes)  # 442 rows: 242 to train on, 200 to judge on


@dataclass(frozen=True)
class Recipe:
    """How one demo model is made: its data, its estimator, and an optional fault in its training labels."""

    data: DemoData
    estimator: Callable[[], BaseEstimator]
    label_shift: tuple[str, int, int] | None = None  # (column, value, amount): those rows' targets moved
    trusted_types: tuple[str, ...] = ()  # what mlflow.sklearn's skops format must be told to trust on load


RECIPES: dict[str, Recipe] = {
    "scaled-logistic": Recipe(WINE, lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))),
    "unscaled-knn": Recipe(
        WINE,
        lambda: KNeighborsClassifier(n_neighbors=5),
        trusted_types=("sklearn.metrics._dist_metrics.EuclideanDistance64", "sklearn.neighbors._kd_tree.KDTree"),
    ),
    "linear": Recipe(DIABETES, lambda: make_pipeline(StandardScaler(), LinearRegression())),
    "miscoded-sex-2": Recipe(
        DIABETES, lambda: make_pipeline(StandardScaler(), LinearRegression()), label_shift=("sex", 2, 20)
    ),
}


def training_frame(recipe: Recipe) -> pd.DataFrame:
    """The recipe's training rows, with its label fault applied."""
    frame = recipe.data.load_train()
    if recipe.label_shift is not None:
        column, value, amount = recipe.label_shift
        target = recipe.data.target
        frame[target] = frame[target] + (frame[column] == value) * amount
    return frame


if __name__ == "__main__":
    for data in (WINE, DIABETES):
        data.write()
        print(*data.paths())
