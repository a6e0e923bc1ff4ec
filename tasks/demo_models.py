"""Train the demo's torch models and log/register them in MLflow as pyfunc models."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
import warnings
from dataclasses import asdict
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import torch
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from prefect import task
from prefect.cache_policies import NO_CACHE

import demo
from demo.adult_data import FEATURES, TARGET, load_eval, load_train
from demo.adult_model import TrainConfig, frame_sha256, positive_probability, train
from demo.pyfunc_model import AdultIncomeClassifier
from tasks.mlflow_store import client, ensure_experiment

DEMO_PACKAGE = Path(demo.__file__).resolve().parent
TRAINING_EXPERIMENT = "modelgate-demo-training"


def code_version() -> str:
    """git commit of the working tree when available, plus a hash of the model code itself."""
    code_hash = hashlib.sha256()
    for path in sorted(DEMO_PACKAGE.glob("*.py")):
        code_hash.update(path.read_bytes())
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=DEMO_PACKAGE, capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{commit or 'nogit'}+{code_hash.hexdigest()[:12]}"


@task(name="reset-demo-model", cache_policy=NO_CACHE)
def reset_registered_model(name: str) -> None:
    """Delete the demo's registered model so that the demo starts from v1."""
    c = client()
    try:
        c.delete_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise


def log_adult_model(name: str, label: str, config: TrainConfig, train_frame: pd.DataFrame, description: str) -> str:
    """Train, log and register one model; returns the new version number."""
    pre, module = train(train_frame, config)
    features = train_frame[FEATURES]
    example = features.head(5)
    output = pd.DataFrame({"probability": positive_probability(pre, module, example)})
    output["label"] = (output["probability"] >= 0.5).astype("int64")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        signature = infer_signature(example, output)
    mlflow.set_experiment(experiment_id=ensure_experiment(TRAINING_EXPERIMENT))
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(run_name=label) as run:
        paths = {
            "preprocessor": Path(tmp) / "preprocessor.json",
            "architecture": Path(tmp) / "architecture.json",
            "weights": Path(tmp) / "weights.pt",
        }
        paths["preprocessor"].write_text(json.dumps(pre.to_dict()))
        paths["architecture"].write_text(
            json.dumps(
                {"hidden": list(config.hidden), "widen_width": config.widen_width, "widen_depth": config.widen_depth}
            )
        )
        torch.save(module.state_dict(), paths["weights"])
        mlflow.log_params({k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()})
        mlflow.log_input(
            mlflow.data.from_pandas(train_frame, name="uci-adult-train", targets=TARGET), context="training"
        )
        mlflow.set_tags(
            {
                "training_data_sha256": frame_sha256(train_frame),
                "training_rows": str(config.train_rows or len(train_frame)),
                "code_version": code_version(),
                "demo_label": label,
            }
        )
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=AdultIncomeClassifier(),
            artifacts={k: str(v) for k, v in paths.items()},
            signature=signature,
            input_example=example,
            code_paths=[str(DEMO_PACKAGE)],
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", f"pandas=={pd.__version__}", "numpy"],
            registered_model_name=name,
        )
    version = str(info.registered_model_version)
    client().update_model_version(name, version, description=description)
    client().set_model_version_tag(name, version, "demo_label", label)
    del run
    return version


@task(name="write-broken-eval-data", cache_policy=NO_CACHE)
def write_broken_eval(folder: str) -> str:
    """A copy of the eval split as a broken upstream job might deliver it: sentinel ages, missing hours."""
    frame = load_eval()
    rng = np.random.default_rng(0)
    frame.loc[rng.random(len(frame)) < 0.03, "age"] = -1
    frame["hours_per_week"] = frame["hours_per_week"].astype("float64")
    frame.loc[rng.random(len(frame)) < 0.02, "hours_per_week"] = np.nan
    path = Path(folder) / "adult_eval_broken.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return str(path)


@task(name="train-and-register", cache_policy=NO_CACHE)
def train_and_register(name: str, label: str, config: TrainConfig, description: str) -> str:
    """Train one demo model on the Adult training split and register it."""
    return log_adult_model(name, label, config, load_train(), description)
