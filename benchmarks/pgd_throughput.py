"""PGD throughput (samples/s at a fixed number of steps): this project's attack vs ART's, same model and batch.

Both run L-inf PGD, 10 steps, no random start, on the demo's full Adult MLP in its encoded input space
(the same batch of eval rows), interleaved over several rounds in one process; prints medians and the
ratio (target >= 1.0). Run: `.venv/bin/python benchmarks/pgd_throughput.py`.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
