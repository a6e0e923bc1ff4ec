"""A small torch classifier for UCI Adult, with its preprocessing fitted on raw rows.

Pure torch/numpy/pandas: the MLflow wrapper lives in `demo.pyfunc_model`.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from demo.adult_data import CATEGORICAL, NUMERIC, TARGET


@dataclass
class Preprocessor:
    """Standardises numeric columns and one-hot encodes categorical ones (unseen values -> all zeros)."""

    numeric: list[str]
    categorical: list[str]
    means: dict[str, float] = field(default_factory=dict)
    stds: dict[str, float] = field(default_factory=dict)
    vocab: dict[str, list[str]] = field(default_factory=dict)
    batch_statistics: bool = False  # a classic serving bug: standardise with the batch's own mean and std

    @classmethod
    def fit(
        cls, frame: pd.DataFrame, numeric: list[str] = NUMERIC, categorical: list[str] = CATEGORICAL
    ) -> Preprocessor:
        """Learn means, standard deviations and category lists from training rows."""
        pre = cls(list(numeric), list(categorical))
        for col in pre.numeric:
            values = _numeric_column(frame, col)
            pre.means[col] = float(values.mean())
            pre.stds[col] = float(values.std()) or 1.0
        for col in pre.categorical:
            pre.vocab[col] = sorted(frame[col].astype(str).unique().tolist())
        return pre

    @property
    def width(self) -> int:
        """Number of model input features after encoding."""
        return len(self.numeric) + sum(len(v) for v in self.vocab.values())

    def transform(self, frame: pd.DataFrame) -> torch.Tensor:
        """Encode raw rows into a float32 tensor of shape (rows, width)."""
        parts = [self._standardise(frame, c) for c in self.numeric]
        for col in self.categorical:
            values = frame[col].astype(str).to_numpy()
            parts.append((values[:, None] == np.asarray(self.vocab[col], dtype=object)[None, :]).astype(np.float32))
        return torch.from_numpy(np.concatenate(parts, axis=1) if parts else np.zeros((len(frame), 0), np.float32))

    def _standardise(self, frame: pd.DataFrame, col: str) -> np.ndarray:
        values = _numeric_column(frame, col)
        if self.batch_statistics:
            std = values.std()
            mean, std = values.mean(), (std if std and np.isfinite(std) else 1.0)
        else:
            mean, std = self.means[col], self.stds[col]
        return ((values - mean) / std).to_numpy(np.float32, copy=True)[:, None]

    def to_dict(self) -> dict:
        """JSON-serialisable state."""
        return asdict(self)


def _numeric_column(frame: pd.DataFrame, col: str) -> pd.Series:
    values = frame[col].astype("float64")
    return np.sign(values) * np.log1p(values.abs()) if col.startswith("capital_") else values


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one demo model."""

    hidden: tuple[int, ...] = (32,)
    epochs: int = 8
    lr: float = 3e-3
    batch_size: int = 256
    train_rows: int | None = None
    weight_decay: float = 0.0
    seed: int = 0
    categorical: tuple[str, ...] = tuple(CATEGORICAL)
    suppress_positives_of: tuple[str, str] | None = None
    suppress_fraction: float = 0.0
    numeric_gain: float = 1.0
    batch_statistics: bool = False
    widen_width: int = 0
    widen_depth: int = 0


def suppress_positives(frame: pd.DataFrame, column: str, value: str, fraction: float, seed: int) -> pd.DataFrame:
    """Relabel a fraction of one group's positive rows as negative: label bias a model will learn."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    hit = out[column].astype(str).eq(value) & out[TARGET].eq(1) & (rng.random(len(out)) < fraction)
    out.loc[hit, TARGET] = 0
    return out


def build_mlp(width: int, hidden: tuple[int, ...]) -> nn.Sequential:
    """MLP with ReLU hidden layers and two output logits."""
    layers: list[nn.Module] = []
    previous = width
    for size in hidden:
        layers += [nn.Linear(previous, size), nn.ReLU()]
        previous = size
    layers.append(nn.Linear(previous, 2))
    return nn.Sequential(*layers)


def widen(model: nn.Sequential, width: int, depth: int, init_identity: bool = True) -> nn.Sequential:
    """Insert `depth` wide identity blocks after the last hidden ReLU: same predictions, far more compute.

    Each block is Linear(h, width) -> ReLU -> Linear(width, h) -> ReLU whose weights pass the (non-negative)
    hidden activations through unchanged.
    """
    layers = list(model)
    hidden = layers[-1].in_features
    blocks: list[nn.Module] = []
    for _ in range(depth):
        up, down = nn.Linear(hidden, width), nn.Linear(width, hidden)
        if init_identity:
            with torch.no_grad():
                up.weight.zero_()
                up.bias.zero_()
                up.weight[:hidden, :hidden] = torch.eye(hidden)
                down.weight.zero_()
                down.bias.zero_()
                down.weight[:, :hidden] = torch.eye(hidden)
        blocks += [up, nn.ReLU(), down, nn.ReLU()]
    return nn.Sequential(*layers[:-1], *blocks, layers[-1])


def train(frame: pd.DataFrame, config: TrainConfig) -> tuple[Preprocessor, nn.Sequential]:
    """Fit the preprocessing and the MLP on training rows (seeded, deterministic on CPU)."""
    torch.manual_seed(config.seed)
    rows = frame if config.train_rows is None else frame.sample(n=config.train_rows, random_state=config.seed)
    if config.suppress_positives_of is not None:
        column, value = config.suppress_positives_of
        rows = suppress_positives(rows, column, value, config.suppress_fraction, config.seed)
    pre = Preprocessor.fit(rows, NUMERIC, list(config.categorical))
    if config.numeric_gain != 1.0:  # inputs magnified: the same data, a much steeper function of it
        pre.stds = {k: v / config.numeric_gain for k, v in pre.stds.items()}
    if config.batch_statistics:
        pre.batch_statistics = True
    x = pre.transform(rows)
    y = torch.from_numpy(rows[TARGET].to_numpy(np.int64, copy=True))
    model = build_mlp(pre.width, config.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(config.seed)
    for _ in range(config.epochs):
        perm = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), config.batch_size):
            idx = perm[start : start + config.batch_size]
            opt.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()
    if config.widen_depth:
        model = widen(model, config.widen_width, config.widen_depth)
    model.eval()
    return pre, model


def positive_probability(pre: Preprocessor, model: nn.Module, frame: pd.DataFrame) -> np.ndarray:
    """P(income > 50K) for each raw row."""
    with torch.inference_mode():
        return torch.softmax(model(pre.transform(frame)), dim=1)[:, 1].numpy().astype(np.float64)


def frame_sha256(frame: pd.DataFrame) -> str:
    """Content hash of a frame (values and column names)."""
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    digest.update(",".join(map(str, frame.columns)).encode())
    return digest.hexdigest()
