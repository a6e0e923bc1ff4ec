"""The demo's image task: 8x8 handwritten digits (scikit-learn's copy of the UCI set, BSD-3-Clause) classified by
small CNNs. Run as a module to write the split arrays in data/sklearn-digits/.

Inputs are float32 arrays of shape (1, 8, 8) with pixel values in [0, 1]; labels are the digits 0-9.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

FOLDER = Path(__file__).resolve().parent.parent / "data" / "sklearn-digits"
TRAIN_PATH, EVAL_PATH = FOLDER / "digits_train.npz", FOLDER / "digits_eval.npz"
TRAIN_ROWS = 1200
SPLIT_SEED = 0


def split() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """((train inputs, labels), (eval inputs, labels)): the 1,797 digits shuffled with a fixed seed."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(x))
    x, y = x[order], y[order]
    return (x[:TRAIN_ROWS], y[:TRAIN_ROWS]), (x[TRAIN_ROWS:], y[TRAIN_ROWS:])


def write() -> None:
    FOLDER.mkdir(parents=True, exist_ok=True)
    for (inputs, labels), path in zip(split(), (TRAIN_PATH, EVAL_PATH), strict=True):
        np.savez_compressed(path, inputs=inputs, labels=labels)


def read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path) as archive:
        return archive["inputs"], archive["labels"]


@dataclass(frozen=True)
class CnnRecipe:
    """One demo CNN: its training noise (pixel units; 0 for none) and epochs."""

    noise: float
    epochs: int = 30
    width: int = 8
    seed: int = 0


RECIPES = {
    "noise-augmented-cnn": CnnRecipe(noise=0.3),
    "plain-cnn": CnnRecipe(noise=0.0),
}


def build(width: int) -> nn.Sequential:
    """Two 3x3 convolutions, a 2x2 max-pool and a linear layer to ten logits."""
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * width * 16, 10),
    )


def train(recipe: CnnRecipe, inputs: np.ndarray, labels: np.ndarray) -> nn.Sequential:
    """Adam on cross-entropy, batches of 64, seeded; Gaussian pixel noise (clipped to [0, 1]) when the recipe says."""
    torch.manual_seed(recipe.seed)
    model = build(recipe.width)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y = torch.from_numpy(inputs), torch.from_numpy(labels)
    gen = torch.Generator().manual_seed(recipe.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny net: one thread is faster than two on a busy CPU
    try:
        for _ in range(recipe.epochs):
            order = torch.randperm(len(x), generator=gen)
            for start in range(0, len(x), 64):
                idx = order[start : start + 64]
                batch = x[idx]
                if recipe.noise:
                    batch = (batch + recipe.noise * torch.randn(batch.shape, generator=gen)).clamp(0, 1)
                opt.zero_grad()
                nn.functional.cross_entropy(model(batch), y[idx]).backward()
                opt.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()


if __name__ == "__main__":
    write()
