"""White-box attacks: known answers on a linear model, PGD vs FGSM, and a cross-check against ART."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gates.attacks import AttackSpace, fgsm, pgd, robust_accuracy

torch.manual_seed(0)


def linear_space(x: torch.Tensor, w: torch.Tensor, b: float, scale: torch.Tensor | None = None) -> AttackSpace:
    layer = torch.nn.Linear(x.shape[1], 1)
    with torch.no_grad():
        layer.weight.copy_(w[None, :])
        layer.bias.fill_(b)
    n = x.shape[1]
    return AttackSpace(
        forward=layer,
        x=x,
        scale=torch.ones(n) if scale is None else scale,
        lower=torch.full((n,), -torch.inf),
        upper=torch.full((n,), torch.inf),
    )


def test_fgsm_on_a_linear_model_moves_by_eps_times_the_weight_sign():
    w = torch.tensor([2.0, -1.0, 0.5])
    x = torch.tensor([[0.3, 0.1, -0.2], [-0.4, 0.2, 0.1]])
    y = torch.tensor([1, 0])
    space = linear_space(x, w, b=0.1)
    adv = fgsm(space, x, y, eps=0.2)
    # For label 1 the loss falls with the margin w.x + b, so FGSM steps against sign(w); for label 0, along it.
    expected = x + 0.2 * torch.stack([-w.sign(), w.sign()])
    assert torch.allclose(adv, expected)
    margin_change = (adv - x) @ w
    assert torch.allclose(margin_change, torch.tensor([-0.2, 0.2]) * w.abs().sum())  # eps * ||w||_1


def test_scale_and_mask_are_respected():
    w = torch.tensor([1.0, 1.0, 1.0])
    x = torch.zeros(1, 3)
    space = linear_space(x, w, b=0.0, scale=torch.tensor([2.0, 0.0, 0.5]))
    adv = fgsm(space, x, torch.tensor([1]), eps=0.1)
    assert torch.allclose(adv, torch.tensor([[-0.2, 0.0, -0.05]]))  # std units; column 2 not perturbed


def test_clipping_to_the_valid_range():
    space = linear_space(torch.zeros(1, 2), torch.tensor([1.0, -1.0]), 0.0)
    space.lower, space.upper = torch.tensor([-0.05, -1.0]), torch.tensor([1.0, 0.05])
    adv = fgsm(space, space.x, torch.tensor([1]), eps=0.5)
    assert torch.allclose(adv, torch.tensor([[-0.05, 0.05]]))


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_pgd_stays_in_the_ball(norm):
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    x = torch.randn(64, 4)
    space = AttackSpace(net, x, torch.ones(4), torch.full((4,), -torch.inf), torch.full((4,), torch.inf))
    adv = pgd(
        space,
        x,
        torch.randint(0, 2, (64,)),
        0.3,
        steps=7,
        step_size=0.1,
        norm=norm,
        generator=torch.Generator().manual_seed(0),
    )
    size = (adv - x).abs().amax(dim=1) if norm == "linf" else (adv - x).norm(dim=1)
    assert float(size.max()) <= 0.3 + 1e-5


def _mlp_space(seed: int = 0, n: int = 2000) -> tuple[AttackSpace, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    y = ((x[:, 0] + 0.5 * x[:, 1] - x[:, 2] * x[:, 3]) > 0).long()
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(6, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(200):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    lim = torch.full((6,), 5.0)
    return AttackSpace(net, x, torch.ones(6), -lim, lim), y


def test_pgd_is_at_least_as_strong_as_fgsm():
    space, y = _mlp_space()
    clean = robust_accuracy(space, y, "fgsm", 1e-9)
    for eps in (0.05, 0.1, 0.3):
        fg = robust_accuracy(space, y, "fgsm", eps)
        pg = robust_accuracy(space, y, "pgd_linf", eps, steps=20)
        assert pg <= fg + 1e-9, (eps, fg, pg)
        assert pg < clean


def test_same_robust_accuracy_as_the_adversarial_robustness_toolbox():
    from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    space, y = _mlp_space(seed=1)
    clf = PyTorchClassifier(
        model=space.forward,
        loss=torch.nn.CrossEntropyLoss(),
        input_shape=(6,),
        nb_classes=2,
        clip_values=(-5.0, 5.0),
        device_type="cpu",
    )
    x_np, onehot = space.x.numpy(), np.eye(2)[y.numpy()]

    def art_accuracy(adv: np.ndarray) -> float:
        with torch.no_grad():
            return float((space.forward(torch.from_numpy(adv)).argmax(1) == y).float().mean())

    for eps in (0.1, 0.25):
        ours = robust_accuracy(space, y, "fgsm", eps)
        theirs = art_accuracy(FastGradientMethod(clf, eps=eps, batch_size=4096).generate(x_np, y=onehot))
        assert ours == pytest.approx(theirs, abs=0.005)
        g = torch.Generator().manual_seed(0)
        ours_pgd = float(
            (
                space.forward(
                    pgd(space, space.x, y, eps, steps=10, step_size=eps / 4, random_start=False, generator=g)
                ).argmax(1)
                == y
            )
            .float()
            .mean()
        )
        art_pgd = ProjectedGradientDescent(
            clf, norm=np.inf, eps=eps, eps_step=eps / 4, max_iter=10, num_random_init=0, batch_size=4096, verbose=False
        )
        assert ours_pgd == pytest.approx(art_accuracy(art_pgd.generate(x_np, y=onehot)), abs=0.01)
