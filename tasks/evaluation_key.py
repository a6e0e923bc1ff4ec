"""What makes two attempts the same: the artifacts, the policy, the data, and the code that judges them."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import mlflow

from gates.policy import policy_hash
from tasks.inputs import PromotionInputs

ROOT = Path(__file__).resolve().parent.parent
JUDGING_CODE = ("gates", "tasks")


def project_version() -> str:
    """The installed modelgate version."""
    try:
        return metadata.version("modelgate")
    except metadata.PackageNotFoundError:
        return "unknown"


@lru_cache(maxsize=1)
def code_hash() -> str:
    """sha256 over the gate and task sources: a fixed gate is a new evaluation, not a cached verdict."""
    digest = hashlib.sha256()
    for package in JUDGING_CODE:
        for path in sorted((ROOT / package).glob("*.py")):
            digest.update(f"{package}/{path.name}\0".encode() + path.read_bytes())
    return digest.hexdigest()


def evaluation_key(inputs: PromotionInputs) -> str:
    """sha256 of the candidate's and champion's artifact digests, policy, data, reference, and code."""
    return hashlib.sha256(json.dumps(key_parts(inputs), sort_keys=True).encode()).hexdigest()


def key_parts(inputs: PromotionInputs) -> dict[str, str | None]:
    """What the evaluation key hashes: registry, model, both digests, policy, data, reference, version and code."""
    return {
        "registry": mlflow.get_tracking_uri(),
        "model": inputs.policy.model_name,
        "candidate": inputs.candidate.digest,
        "champion": inputs.champion.digest if inputs.champion else None,
        "policy": policy_hash(inputs.policy),
        "data": inputs.data.sha256,
        "reference": inputs.reference.sha256 if inputs.reference else None,
        "modelgate": project_version(),
        "code": code_hash(),
    }
