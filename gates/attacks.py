"""White-box attacks (FGSM, PGD L-inf and L2) in a model's continuous input space, batched and seeded.

Perturbations live in "std units": delta is scaled per input column by `scale` (the column's standard
deviation on the training reference; 0 for columns that are not perturbed, such as one-hot
categories), then the adversarial input is clipped to [lower, upper].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from gates.policy import RobustnessGatePolicy

Forward = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class AttackSpace:
    """Encoded inputs of a torch model with per-column scale and valid range."""

    forward: Forward
    x: torch.Tensor
    scale: torch.Tensor
    lower: torch.Tensor
    upper: torch.Tensor


def loss_fn(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy for (n, 2) logits; binary cross-entropy with logits for (n,) or (n, 1)."""
    if logits.ndim == 2 and logits.shape[1] > 1:
        return F.cross_entropy(logits, y, reduction="sum")
    return F.binary_cross_entropy_with_logits(logits.reshape(-1), y.float(), reduction="sum")


def predict_labels(logits: torch.Tensor) -> torch.Tensor:
    """Class labels from logits of either shape."""
    if logits.ndim == 2 and logits.shape[1] > 1:
        return logits.argmax(dim=1)
    return (logits.reshape(-1) > 0).long()


def _grad(forward: Forward, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_fn(forward(x), y), x)
    return grad


def _clip(x: torch.Tensor, space: AttackSpace) -> torch.Tensor:
    return torch.max(torch.min(x, space.upper), space.lower)


def _l2_normalise(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)


def fgsm(space: AttackSpace, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """One signed-gradient step of size eps (std units) on the perturbable columns."""
    grad = _grad(space.forward, x, y) * space.scale  # gradient w.r.t. delta in std units
    return _clip(x + eps * grad.sign() * space.scale, space).detach()


def pgd(
    space: AttackSpace,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    steps: int,
    step_size: float,
    norm: str = "linf",
    random_start: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Projected gradient ascent on the loss within an L-inf or L2 ball of radius eps (std units)."""
    mask = (space.scale != 0).to(x.dtype)
    delta = torch.zeros_like(x)
    if random_start:
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype, device="cpu").to(x.device)
        if norm == "linf":
            delta = (noise * 2 - 1) * eps * mask
        else:
            direction = _l2_normalise((noise * 2 - 1) * mask)
            radius = torch.rand((x.shape[0], 1), generator=generator, dtype=x.dtype, device="cpu").to(x.device)
            delta = direction * radius * eps
    delta = _feasible(space, x, delta, mask)
    for _ in range(steps):
        x_adv = _clip(x + delta * space.scale, space)
        grad = _grad(space.forward, x_adv, y) * space.scale
        if norm == "linf":
            delta = (delta + step_size * grad.sign()).clamp(-eps, eps)
        else:
            delta = delta + step_size * _l2_normalise(grad)
            factor = (eps / delta.norm(dim=1, keepdim=True).clamp_min(1e-12)).clamp(max=1.0)
            delta = delta * factor
        delta = _feasible(space, x, delta * mask, mask)
    return _clip(x + delta * space.scale, space).detach()


def _feasible(space: AttackSpace, x: torch.Tensor, delta: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """delta recomputed from the clipped input (as torchattacks and ART do): a step pushed past a bound leaves no
    debt that later steps must pay back first."""
    unit = torch.where(mask.bool(), space.scale, torch.ones_like(space.scale))
    return (_clip(x + delta * space.scale, space) - x) / unit * mask


def robust_accuracy(
    space: AttackSpace,
    y: torch.Tensor,
    attack: str,
    eps: float,
    *,
    steps: int = 10,
    step_size: float | None = None,
    batch_size: int = 4096,
    seed: int = 0,
) -> float:
    """Share of rows still classified correctly after the attack, in batches."""
    generator = torch.Generator().manual_seed(seed)
    correct = 0
    for start in range(0, space.x.shape[0], batch_size):
        xb, yb = space.x[start : start + batch_size], y[start : start + batch_size]
        if attack == "fgsm":
            adv = fgsm(space, xb, yb, eps)
        else:
            norm = "l2" if attack == "pgd_l2" else "linf"
            alpha = step_size if step_size is not None else 2.5 * eps / steps
            adv = pgd(space, xb, yb, eps, steps=steps, step_size=alpha, norm=norm, generator=generator)
        with torch.no_grad():
            correct += int((predict_labels(space.forward(adv)) == yb).sum())
    return correct / max(space.x.shape[0], 1)


def clean_accuracy(space: AttackSpace, y: torch.Tensor, batch_size: int = 4096) -> float:
    """Accuracy on the unperturbed encoded rows."""
    correct = 0
    with torch.no_grad():
        for start in range(0, space.x.shape[0], batch_size):
            logits = space.forward(space.x[start : start + batch_size])
            correct += int((predict_labels(logits) == y[start : start + batch_size]).sum())
    return correct / max(space.x.shape[0], 1)


def pick_device(choice: str) -> str:
    """cuda when asked or (auto) when present, else cpu."""
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cpu"


def white_box(space: AttackSpace, y: NDArray, policy: RobustnessGatePolicy) -> dict[str, dict[str, float]]:
    """Robust accuracy for each attack and epsilon."""
    device = pick_device(policy.device)
    moved = AttackSpace(
        forward=space.forward,
        x=space.x.to(device),
        scale=space.scale.to(device),
        lower=space.lower.to(device),
        upper=space.upper.to(device),
    )
    target = torch.as_tensor(np.asarray(y), dtype=torch.long, device=device)
    out: dict[str, dict[str, float]] = {}
    for attack in policy.attacks:
        radii = policy.l2_epsilons if attack == "pgd_l2" else policy.epsilons
        out[attack] = {
            str(eps): robust_accuracy(
                moved,
                target,
                attack,
                eps,
                steps=policy.pgd_steps,
                step_size=policy.pgd_step_size,
                batch_size=policy.batch_size,
                seed=policy.seed,
            )
            for eps in radii
        }
    return out
