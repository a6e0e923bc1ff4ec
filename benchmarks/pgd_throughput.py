"""PGD throughput (samples/s at a fixed number of steps): this project's attack vs peer libraries', same inputs.

Two comparisons, each interleaved over several rounds in one process, reported as medians and the ratio
modelgate/peer (target >= 1.0):

- torchattacks: L-inf PGD, 10 steps, eps 8/255, step 2/255, random start, on a small CNN (3x32x32 input, two
  conv layers, 10 classes) and a batch of 512 synthetic images in [0, 1], in the gate's pixel space (flat rows,
  scale 1, bounds [0, 1], a forward that restores the image shape). CUDA when available, else CPU. Labels are
  the model's own predictions, so clean accuracy is 1. The first round is a warm-up and is not counted.
- art: L-inf PGD, 10 steps, eps 0.1, no random start, on the demo's full Adult MLP in its encoded input space
  (the same batch of eval rows), CPU (trains the demo model first, about a minute).

Run: `.venv/bin/python benchmarks/pgd_throughput.py [--peer torchattacks|art|both] [--rounds 5]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _timed(fn: Callable[[], torch.Tensor], device: str) -> tuple[float, torch.Tensor]:
    _sync(device)
    start = time.perf_counter()
    out = fn()
    _sync(device)
    return time.perf_counter() - start, out


def small_cnn() -> torch.nn.Sequential:
    """3x32x32 -> 10 logits: conv 16, pool, conv 32, pool, linear."""
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(32 * 8 * 8, 10),
    )


def against_torchattacks(args: argparse.Namespace) -> None:
    import torchattacks

    from gates.attacks import AttackSpace, pgd, pick_device

    device = pick_device(args.device)
    torch.manual_seed(0)
    model = small_cnn().to(device).eval()
    x = torch.rand(args.images, 3, 32, 32, device=device)
    with torch.no_grad():
        y = model(x).argmax(1)
    shape = tuple(x.shape[1:])
    flat = x.reshape(len(x), -1)
    width = flat.shape[1]
    space = AttackSpace(
        forward=lambda z: model(z.reshape((len(z), *shape))),
        x=flat,
        scale=torch.ones(width, device=device),
        lower=torch.zeros(width, device=device),
        upper=torch.ones(width, device=device),
    )
    eps, alpha = 8 / 255, 2 / 255
    peer = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=args.steps, random_start=True)

    def ours() -> torch.Tensor:
        gen = torch.Generator().manual_seed(0)
        return pgd(space, flat, y, eps, steps=args.steps, step_size=alpha, generator=gen)

    def theirs() -> torch.Tensor:
        torch.manual_seed(0)
        return peer(x, y)

    rows = []
    for i in range(args.rounds + 1):  # round 0 warms up both (allocator, kernels, lazy init)
        t_ours, ours_adv = _timed(ours, device)
        t_theirs, theirs_adv = _timed(theirs, device)
        if i:
            rows.append((args.images / t_ours, args.images / t_theirs))
    with torch.no_grad():
        acc_ours = float((model(ours_adv.reshape(x.shape)).argmax(1) == y).float().mean())
        acc_theirs = float((model(theirs_adv).argmax(1) == y).float().mean())

    name = torch.cuda.get_device_name() if device == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(
        f"model: small CNN (3x32x32, conv16-pool-conv32-pool-linear10); batch {args.images} images; "
        f"PGD L-inf eps=8/255 step=2/255 steps={args.steps} random start; {args.rounds} interleaved rounds "
        f"after 1 warm-up; device={device} ({name}); torch {torch.__version__}, torchattacks {torchattacks.__version__}"
    )
    print("| round | modelgate images/s | torchattacks images/s | ratio modelgate/torchattacks |")
    print("|---|---|---|---|")
    for i, (a, b) in enumerate(rows, 1):
        print(f"| {i} | {a:,.0f} | {b:,.0f} | {a / b:.2f} |")
    med_ours, med_theirs = statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
    print(f"| **median** | **{med_ours:,.0f}** | **{med_theirs:,.0f}** | **{med_ours / med_theirs:.2f}** |")
    print(
        f"robust accuracy (last round): modelgate {acc_ours:.4f}, torchattacks {acc_theirs:.4f}; "
        f"throughput ratio modelgate/torchattacks (median): {med_ours / med_theirs:.2f}  (target >= 1.0)"
    )


def against_art(args: argparse.Namespace) -> None:
    torch.set_num_threads(max(torch.get_num_threads(), 1))

    from art.attacks.evasion import ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    from demo.adult_data import TARGET, load_eval, load_train
    from demo.adult_model import train
    from flows.demo import FULL
    from gates.attacks import AttackSpace, pgd

    pre, module = train(load_train(), FULL)
    frame = load_eval().sample(args.rows, random_state=0)
    x = pre.transform(frame)
    y = torch.from_numpy(frame[TARGET].to_numpy("int64", copy=True))
    k = len(pre.numeric)
    # Same space for both: every column perturbable by eps (ART has no per-column mask), clipped to a box.
    scale = torch.ones(x.shape[1])
    lower, upper = torch.full((x.shape[1],), -10.0), torch.full((x.shape[1],), 10.0)
    space = AttackSpace(module, x, scale, lower, upper)
    eps, alpha = 0.1, 0.025
    clf = PyTorchClassifier(
        model=module,
        loss=torch.nn.CrossEntropyLoss(),
        input_shape=(x.shape[1],),
        nb_classes=2,
        clip_values=(-10.0, 10.0),
        device_type="cpu",
    )
    art = ProjectedGradientDescent(
        clf,
        norm=np.inf,
        eps=eps,
        eps_step=alpha,
        max_iter=args.steps,
        num_random_init=0,
        batch_size=args.rows,
        verbose=False,
    )
    x_np, onehot = x.numpy(), np.eye(2)[y.numpy()]

    ours_t, art_t = [], []
    for _ in range(args.rounds):
        start = time.perf_counter()
        ours_adv = pgd(space, x, y, eps, steps=args.steps, step_size=alpha, random_start=False)
        ours_t.append(time.perf_counter() - start)
        start = time.perf_counter()
        art_adv = art.generate(x_np, y=onehot)
        art_t.append(time.perf_counter() - start)
    with torch.no_grad():
        acc_ours = float((module(ours_adv).argmax(1) == y).float().mean())
        acc_art = float((module(torch.from_numpy(art_adv)).argmax(1) == y).float().mean())
    ours_rate, art_rate = args.rows / statistics.median(ours_t), args.rows / statistics.median(art_t)
    print(
        f"model: demo full MLP ({x.shape[1]} encoded inputs, {k} continuous); batch {args.rows}; "
        f"PGD L-inf eps={eps} step={alpha} steps={args.steps}; {args.rounds} interleaved rounds; "
        f"threads={torch.get_num_threads()}"
    )
    print(f"modelgate PGD: {ours_rate:10.0f} samples/s  (robust accuracy {acc_ours:.4f})")
    print(f"ART PGD:       {art_rate:10.0f} samples/s  (robust accuracy {acc_art:.4f})")
    print(f"throughput ratio modelgate/ART: {ours_rate / art_rate:.2f}  (target >= 1.0)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", choices=["torchattacks", "art", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--images", type=int, default=512, help="batch for the torchattacks comparison")
    parser.add_argument("--rows", type=int, default=4096, help="batch for the ART comparison")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="torchattacks comparison")
    args = parser.parse_args()
    if args.peer in ("torchattacks", "both"):
        against_torchattacks(args)
    if args.peer == "both":
        print()
    if args.peer in ("art", "both"):
        against_art(args)


if __name__ == "__main__":
    main()
