"""Policy files: read and validate a policy YAML, resolve the data paths it names."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from gates.errors import BadInputError, PolicyError
from gates.policy import PromotionPolicy, parse_policy

POLICY_DIR = "configs/policies"
FAST_LOADER: type | None = getattr(yaml, "CSafeLoader", None)  # libyaml's safe loader, when PyYAML was built with it


def default_policy_path(model: str, policy_dir: str | Path = POLICY_DIR) -> str:
    """configs/policies/<model>.yaml (relative to the working directory)."""
    return str(Path(policy_dir) / f"{model}.yaml")


def load_policy(path: str | Path) -> PromotionPolicy:
    """Read and validate a policy YAML file (the same text is validated once per process); raises PolicyError with
    one line on any problem."""
    path = Path(path)
    if not path.is_file():
        raise PolicyError(f"policy file not found: {path}")
    return _parsed(str(path), path.read_text())


@lru_cache(maxsize=16)
def _parsed(name: str, text: str) -> PromotionPolicy:
    return parse_policy(_yaml(name, text), name)


def _yaml(name: str, text: str) -> object:
    """The document, read by libyaml when present; text libyaml rejects is read again by PyYAML's own loader,
    whose result or error message stands (the same with or without libyaml)."""
    if FAST_LOADER is not None:
        try:
            return yaml.load(text, Loader=FAST_LOADER)
        except yaml.YAMLError:
            pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise PolicyError(f"{name}: invalid YAML{where}: {getattr(exc, 'problem', exc)}") from None


def policy_for(policy_path: str, model: str) -> PromotionPolicy:
    """Validate the policy file; it must govern the requested model."""
    policy = load_policy(policy_path)
    if policy.model_name != model:
        raise BadInputError(f"policy {policy_path} governs {policy.model_name!r}, not {model!r}")
    return policy


def resolve_data_path(policy_path: str | Path, data_path: str) -> Path:
    """A data path from the policy, relative to the policy file's folder unless absolute."""
    candidate = Path(data_path).expanduser()
    return candidate if candidate.is_absolute() else (Path(policy_path).resolve().parent / candidate)
