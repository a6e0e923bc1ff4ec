"""The demo: train three Adult income models, then let the promotion flow judge them."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from demo.adult_model import TrainConfig
from flows.promote import promote_version
from gates.outcome import PromotionOutcome
from tasks.demo_models import reset_registered_model, train_and_register

DEMO_MODEL = "adult-income"
DEMO_POLICY = Path(__file__).resolve().parent.parent / "configs" / "policies" / f"{DEMO_MODEL}.yaml"

DEMO_CANDIDATES: list[tuple[str, TrainConfig, str]] = [
    (
        "baseline",
        TrainConfig(hidden=(16,), epochs=4, train_rows=5000, categorical=("education", "marital_status", "sex")),
        "Small MLP on 5k rows and three categorical columns: the first champion.",
    ),
    (
        "full",
        TrainConfig(hidden=(64, 32), epochs=10),
        "Larger MLP on all rows and columns: a genuinely better candidate.",
    ),
    (
        "relationship-only",
        TrainConfig(hidden=(8,), epochs=4, train_rows=4000, categorical=("relationship",)),
        "Tiny MLP that sees one categorical column: a worse candidate.",
    ),
]


@flow(name="modelgate-demo", log_prints=True)
def demo(model: str = DEMO_MODEL, policy_path: str = str(DEMO_POLICY)) -> list[PromotionOutcome]:
    """Register v1..v3 of the demo model, then run the promotion flow on each in turn."""
    reset_registered_model(model)
    outcomes = []
    for label, config, description in DEMO_CANDIDATES:
        version = train_and_register(model, label, config, description)
        outcomes.append(promote_version(model, version, policy_path, trigger="demo"))
    return outcomes
