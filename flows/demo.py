"""The demo: train Adult income models, then let the promotion flow judge them; then a multiclass, a regression and
an image classifier."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from demo.adult_model import TrainConfig
from flows.promote import promote
from gates.outcome import PromotionOutcome
from tasks.demo_images import train_and_register_cnn
from tasks.demo_models import reset_registered_model, train_and_register, write_broken_eval
from tasks.demo_sklearn import train_and_register_sklearn
from tasks.evidence import evidence_root

POLICIES = Path(__file__).resolve().parent.parent / "configs" / "policies"
DEMO_MODEL = "adult-income"
DEMO_POLICY = POLICIES / f"{DEMO_MODEL}.yaml"

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

# One short section per other task: scikit-learn models (demo/sklearn_data.py has each label's recipe), logged with
# mlflow.sklearn and registered as v1, v2, ... in this order, then judged in the same order under the model's policy.
TASK_SECTIONS: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "wine-cultivar",
        [
            ("scaled-logistic", "Logistic regression on standardised measurements: the first champion."),
            (
                "unscaled-knn",
                "5-nearest-neighbours on the raw measurements: proline (278 to 1,680) swamps the other twelve "
                "columns in its distances, so it is much less accurate.",
            ),
        ],
    ),
    (
        "diabetes-progression",
        [
            ("linear", "Linear regression on standardised features: the first champion."),
            (
                "miscoded-sex-2",
                "The same regression trained on an extract where progression was recorded 20 points high for "
                "patients of sex 2: overall error barely moves, its predictions for one sex do.",
            ),
        ],
    ),
]


# The image task: small CNNs on 8x8 digit images (demo/digits.py has each label's recipe), logged with
# mlflow.pytorch and a tensor signature, judged on the eval arrays in data/sklearn-digits/.
IMAGE_SECTION: tuple[str, list[tuple[str, str]]] = (
    "digits-cnn",
    [
        (
            "noise-augmented-cnn",
            "Two-layer CNN trained on digits with Gaussian pixel noise added: the first champion.",
        ),
        (
            "plain-cnn",
            "The same CNN trained on clean digits only: as accurate, but an adversary moving each pixel by 0.1 "
            "turns half of its answers.",
        ),
    ],
)


def judge_task_sections(trigger: str = "demo") -> list[PromotionOutcome]:
    """Register each TASK_SECTIONS model's versions from v1, then judge them in order under its policy; then the
    IMAGE_SECTION's CNNs."""
    sections = [(model, candidates, train_and_register_sklearn) for model, candidates in TASK_SECTIONS]
    sections.append((*IMAGE_SECTION, train_and_register_cnn))
    outcomes = []
    for model, candidates, register in sections:
        reset_registered_model(model)
        versions = [register(model, label, text) for label, text in candidates]
        policy_path = str(POLICIES / f"{model}.yaml")
        outcomes += [promote(model=model, version=v, policy_path=policy_path, trigger=trigger) for v in versions]
    return outcomes


@flow(name="modelgate-demo", flow_run_name="modelgate demo", log_prints=True)
def demo(model: str = DEMO_MODEL, policy_path: str = str(DEMO_POLICY)) -> list[PromotionOutcome]:
    """Register v1..v7, then judge each; the full model is first judged on a broken eval file, then on the good one.

    Then the multiclass and regression sections (TASK_SECTIONS) and the image section (IMAGE_SECTION), each
    judged under its own policy.
    """
    reset_registered_model(model)
    versions = {label: train_and_register(model, label, config, text) for label, config, text in DEMO_CANDIDATES}
    broken = write_broken_eval(str(evidence_root().parent / "demo"))
    adult = [
        promote(model=model, version=versions["baseline"], policy_path=policy_path, trigger="demo"),
        promote(model=model, version=versions["biased"], policy_path=policy_path, trigger="demo"),
        promote(model=model, version=versions["brittle"], policy_path=policy_path, trigger="demo"),
        promote(model=model, version=versions["slow"], policy_path=policy_path, trigger="demo"),
        promote(model=model, version=versions["inconsistent"], policy_path=policy_path, trigger="demo"),
        promote(model=model, version=versions["full"], policy_path=policy_path, trigger="demo", eval_data=broken),
        promote(model=model, version=versions["full"], policy_path=policy_path, trigger="demo"),
        promote(model=model, version=versions["relationship-only"], policy_path=policy_path, trigger="demo"),
    ]
    return adult + judge_task_sections()
