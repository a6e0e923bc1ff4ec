"""The demo: train Adult income models, then let the promotion flow judge them."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from demo.adult_model import TrainConfig
from flows.promote import promote
from gates.outcome import PromotionOutcome
from tasks.demo_models import reset_registered_model, train_and_register, write_broken_eval
from tasks.evidence import evidence_root

DEMO_MODEL = "adult-income"
DEMO_POLICY = Path(__file__).resolve().parent.parent / "configs" / "policies" / f"{DEMO_MODEL}.yaml"

BASELINE = TrainConfig(hidden=(16,), epochs=4, train_rows=5000, categorical=("education", "marital_status", "sex"))
FULL = TrainConfig(hidden=(64, 32), epochs=10)
BIASED = TrainConfig(hidden=(64, 32), epochs=10, suppress_positives_of=("sex", "Female"), suppress_fraction=0.5)
WORSE = TrainConfig(hidden=(8,), epochs=4, train_rows=4000, categorical=("relationship",))
BRITTLE = TrainConfig(hidden=(64, 32), epochs=15, numeric_gain=200)
INCONSISTENT = TrainConfig(hidden=(64, 32), epochs=10, batch_statistics=True)
SLOW = TrainConfig(hidden=(64, 32), epochs=10, widen_width=4096, widen_depth=3)

DEMO_CANDIDATES: list[tuple[str, TrainConfig, str]] = [
    ("baseline", BASELINE, "Small MLP on 5k rows and three categorical columns: the first champion."),
    (
        "biased",
        BIASED,
        "Large MLP trained on labels where half of the women's positives were erased: "
        "accurate overall, biased against women.",
    ),
    (
        "brittle",
        BRITTLE,
        "Large MLP trained on numeric inputs magnified 200x: accurate, with a sharp decision "
        "function that small perturbations cross.",
    ),
    ("slow", SLOW, "The full model with three 4096-wide identity blocks: the same predictions, 50x the compute."),
    (
        "inconsistent",
        INCONSISTENT,
        "Large MLP whose preprocessing standardises each request with its own batch "
        "statistics: fine on a big batch, wrong on single rows.",
    ),
    ("full", FULL, "Large MLP on all rows and columns: a genuinely better, fair, robust candidate."),
    ("relationship-only", WORSE, "Tiny MLP that sees one categorical column: a worse candidate."),
]


@flow(name="modelgate-demo", flow_run_name="modelgate demo", log_prints=True)
def demo(model: str = DEMO_MODEL, policy_path: str = str(DEMO_POLICY)) -> list[PromotionOutcome]:
    """Register v1..v7, then judge each; the full model is first judged on a broken eval file, then on the good one."""
    reset_registered_model(model)
    versions = {label: train_and_register(model, label, config, text) for label, config, text in DEMO_CANDIDATES}
    broken = write_broken_eval(str(evidence_root().parent / "demo"))
    return [
        promote(model=model, version=versions["baseline"], policy_path=policy_path, trigger="demo"),
        promote(model=model, version=versions["biased"], policy_path=policy_path, trigger="demo"),
        promote(model=model, version=versions["brittle"], policy_path=policy_path, trigger="demo"),
        promote(model=model, version=versions["slow"], policy_path=policy_path, trigger="demo"),
        promote(model=model, version=versions["inconsistent"], policy_path=policy_path, trigger="demo"),
        promote(model=model, version=versions["full"], policy_path=policy_path, trigger="demo", eval_data=broken),
        promote(model=model, version=versions["full"], policy_path=policy_path, trigger="demo"),
        promote(model=model, version=versions["relationship-only"], policy_path=policy_path, trigger="demo"),
    ]
