"""Train the demo's digit CNNs and log/register them with mlflow.pytorch and a tensor signature, as users log
image models."""

from __future__ import annotations

import mlflow
import numpy as np
import torch
from mlflow.models import infer_signature
from prefect import task
from prefect.cache_policies import NO_CACHE

from demo.digits import RECIPES, TRAIN_PATH, read, train
from tasks.demo_models import TRAINING_EXPERIMENT, code_version
from tasks.mlflow_store import client, ensure_experiment


@task(name="train-and-register-cnn", cache_policy=NO_CACHE)
def train_and_register_cnn(name: str, label: str, description: str) -> str:
    """Train the CNN recipe named `label` on the digits' training arrays, log it with mlflow.pytorch (signature:
    a float32 tensor (-1, 1, 8, 8) in, ten logits out) and register it."""
    recipe = RECIPES[label]
    inputs, labels = read(TRAIN_PATH)
    model = train(recipe, inputs, labels)
    with torch.no_grad():
        logits = model(torch.from_numpy(inputs[:64])).numpy()
    mlflow.set_experiment(experiment_id=ensure_experiment(TRAINING_EXPERIMENT))
    with mlflow.start_run(run_name=f"{name}-{label}"):
        mlflow.log_params({"training_noise": recipe.noise, "epochs": recipe.epochs, "width": recipe.width})
        mlflow.log_input(
            mlflow.data.from_numpy(inputs, targets=labels, name="sklearn-digits-train"), context="training"
        )
        mlflow.set_tags({"code_version": code_version(), "demo_label": label, "training_rows": str(len(inputs))})
        info = mlflow.pytorch.log_model(
            model,
            name="model",
            signature=infer_signature(inputs[:64], logits.astype(np.float32)),
            input_example=inputs[:3],
            registered_model_name=name,
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"],
        )
    version = str(info.registered_model_version)
    client().update_model_version(name, version, description=description)
    client().set_model_version_tag(name, version, "demo_label", label)
    return version
