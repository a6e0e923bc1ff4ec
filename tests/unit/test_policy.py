"""Policy validation: every bad file is one clear PolicyError."""

from __future__ import annotations

import hashlib
import json

import pytest
import yaml

from gates.errors import PolicyError
from gates.policy import policy_hash, policy_json_schema
from tasks.policy_files import load_policy, resolve_data_path
from tests.conftest import ROOT

DEMO = ROOT / "configs" / "policies" / "adult-income.yaml"
MINIMAL = "model_name: m\neval_data: {path: e.csv, target: y}\n"


def write(tmp_path, text: str):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return path


def test_demo_policy_is_valid_and_hash_is_stable(tmp_path):
    policy = load_policy(DEMO)
    assert policy.model_name == "adult-income"
    # The hash is sha256 of the normalised policy: sorted keys, compact separators, defaults filled in.
    canonical = json.dumps(policy.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    assert policy_hash(policy) == hashlib.sha256(canonical.encode()).hexdigest()
    # The same policy written another way (keys reversed, flow style, no comments) hashes the same.
    data = yaml.safe_load(DEMO.read_text())
    rewritten = write(tmp_path, yaml.safe_dump(dict(reversed(data.items())), default_flow_style=True))
    assert rewritten.read_text() != DEMO.read_text()
    assert policy_hash(load_policy(rewritten)) == policy_hash(policy)


def test_defaults_are_filled_and_hash_tracks_content(tmp_path):
    policy = load_policy(write(tmp_path, MINIMAL))
    assert policy.champion_alias == "champion" and "roc_auc" in policy.gates.evaluation.metrics
    other = load_policy(write(tmp_path, MINIMAL + "champion_alias: prod\n"))
    assert policy_hash(policy) != policy_hash(other)
    spelled_out = load_policy(write(tmp_path, MINIMAL + "champion_alias: champion\n"))
    assert policy_hash(policy) == policy_hash(spelled_out)  # normalised: defaults written or not


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (MINIMAL + "colour: blue\n", "colour: Extra inputs are not permitted"),
        (
            MINIMAL + "gates: {evaluation: {metrics: {accuracy: {threshold: 1.5}}}}\n",
            "threshold must be between 0 and 1",
        ),
        (MINIMAL + "gates: {evaluation: {metrics: {accuracy: {min_absolute_change: 0}}}}\n", "greater than 0"),
        (MINIMAL + "gates: {evaluation: {metrics: {auc: {threshold: 0.5}}}}\n", "gates.evaluation.metrics.auc"),
        (MINIMAL + "gates: {evaluation: {bootstrap: {resamples: 5}}}\n", "greater than or equal to 100"),
        (MINIMAL + "gates: {evaluation: {metrics: {log_loss: {greater_is_better: true}}}}\n", "must be False"),
        (MINIMAL + "champion_alias: latest\n", "reserved"),
        (MINIMAL + "champion_alias: 'has space'\n", "champion_alias"),
        ("eval_data: {path: e.csv, target: y}\n", "model_name: Field required"),
        ("model_name: m\neval_data: [1, 2\n", "invalid YAML at line"),
        ("- just\n- a list\n", "expected a mapping"),
        (
            "model_name: m\neval_data: {path: e.npz, target: y, value_range: [1, 0]}\n",
            r"value_range must be \[low, high\] with low < high, got \[1.0, 0.0\]",
        ),
        ("model_name: m\neval_data: {path: e.npz, target: y, format: npx}\n", "eval_data.format"),
        (MINIMAL + "gates: {robustness: {epsilons: ['8//255']}}\n", "gates.robustness.epsilons"),
    ],
)
def test_invalid_policies(tmp_path, text, message):
    with pytest.raises(PolicyError, match=message) as err:
        load_policy(write(tmp_path, text))
    assert "\n" not in str(err.value)


def test_missing_policy_file(tmp_path):
    with pytest.raises(PolicyError, match="policy file not found"):
        load_policy(tmp_path / "absent.yaml")


def test_data_paths_are_relative_to_the_policy_file(tmp_path):
    assert resolve_data_path(tmp_path / "p.yaml", "d/e.csv") == tmp_path / "d" / "e.csv"
    assert resolve_data_path(tmp_path / "p.yaml", "/abs/e.csv").as_posix() == "/abs/e.csv"


def test_committed_json_schema_is_current():
    committed = json.loads((ROOT / "configs" / "policy.schema.json").read_text())
    assert committed == policy_json_schema()


def test_every_field_is_described():
    def walk(schema: dict, defs: dict, path: str = ""):
        for name, prop in schema.get("properties", {}).items():
            assert prop.get("description"), f"{path}{name} has no description"

    schema = policy_json_schema()
    defs = schema.get("$defs", {})
    walk(schema, defs)
    for name, sub in defs.items():
        walk(sub, defs, f"{name}.")
