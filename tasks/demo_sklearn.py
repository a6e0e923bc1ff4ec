"""Train the demo's scikit-learn models and log/register them with mlflow.sklearn, as users log theirs."""

from __future__ import annotations

import warnings

import mlflow
import sklearn
from mlflow.models import infer_signature
from prefect import task
from prefect.cache_policies import NO_CACHE
from sklearn.base import BaseEstimator

from demo.adult_model import frame_sha256
from demo.sklearn_data import RECIPES, training_frame
from tasks.demo_models import TRAINING_EXPERIMENT, code_version
from tasks.mlflow_store import client, ensure_experiment


def _describe(estimator: BaseEstimator) -> str:
    """The estimator's class, or its pipeline's steps in order."""
    steps = getattr(estimator, "steps", None)
    return " -> ".join(type(step).__name__ for _, step in steps) if steps else type(estimator).__name__


@task(name="train-and-register-sklearn", cache_policy=NO_CACHE)
def train_and_register_sklearn(name: str, label: str, description: str) -> str:
    """Fit the recipe named `label` on its training split, log it with mlflow.sklearn and register it."""
    recipe = RECIPES[label]
    frame = training_frame(recipe)
    target = recipe.data.target
    x = frame.drop(columns=target)
    estimator = recipe.estimator()
    estimator.fit(x, frame[target])
    mlflow.set_experiment(experiment_id=ensure_experiment(TRAINING_EXPERIMENT))
    with warnings.catch_warnings(), mlflow.start_run(run_name=f"{name}-{label}"):
        # integer columns (age, sex; class labels) are complete in this data: MLflow's hint about nulls is moot
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        signature = infer_signature(x, estimator.predict(x))
        mlflow.log_params({"estimator": _describe(estimator), "label_shift": str(recipe.label_shift)})
        mlflow.log_input(
            mlflow.data.from_pandas(frame, name=f"sklearn-{recipe.data.name}-train", targets=target),
            context="training",
        )
        mlflow.set_tags(
            {
                "training_data_sha256": frame_sha256(frame),
                "training_rows": str(len(frame)),
                "code_version": code_version(),
                "demo_label": label,
            }
        )
        info = mlflow.sklearn.log_model(
            estimator,
            name="model",
            signature=signature,
            input_example=x.head(3),
            registered_model_name=name,
            pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
            skops_trusted_types=list(recipe.trusted_types) or None,
        )
    version = str(info.registered_model_version)
    client().update_model_version(name, version, description=description)
    client().set_model_version_tag(name, version, "demo_label", label)
    return version
