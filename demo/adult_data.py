"""Read the raw UCI Adult files into tidy frames (run as a module to write the prepared CSVs)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "uci-adult"
TARGET = "income_gt_50k"
NUMERIC = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
CATEGORICAL = [
    "workclass",
    "education",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "native_country",
]
COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education_num",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
    "native_country",
    "income",
]
FEATURES = [c for c in COLUMNS if c != "income"]


def read_raw(path: Path) -> pd.DataFrame:
    """Parse one raw Adult file (train or test split) into a frame with a 0/1 target."""
    with gzip.open(path, "rt") as fh:
        lines = [ln for ln in fh if ln.strip() and not ln.startswith("|")]
    rows = [[field.strip() for field in ln.split(",")] for ln in lines]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    for col in NUMERIC:
        frame[col] = frame[col].astype("int64")
    frame[TARGET] = frame.pop("income").str.rstrip(".").eq(">50K").astype("int64")
    return frame


def prepared_paths(data_dir: Path = DATA_DIR) -> tuple[Path, Path]:
    """Paths of the prepared train and eval CSVs."""
    return data_dir / "adult_train.csv.gz", data_dir / "adult_eval.csv.gz"


def load_train(data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """The prepared training split."""
    return pd.read_csv(prepared_paths(data_dir)[0])


def load_eval(data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """The prepared evaluation split."""
    return pd.read_csv(prepared_paths(data_dir)[1])


def main() -> None:
    """Write the prepared CSVs from the raw files."""
    train_path, eval_path = prepared_paths()
    for raw, out in ((DATA_DIR / "adult.data.gz", train_path), (DATA_DIR / "adult.test.gz", eval_path)):
        frame = read_raw(raw)
        with gzip.GzipFile(out, "wb", mtime=0) as fh:
            fh.write(frame.to_csv(index=False).encode())
        print(f"{out.name}: {len(frame)} rows, positive share {frame[TARGET].mean():.3f}")


if __name__ == "__main__":
    main()
