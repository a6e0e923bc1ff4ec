"""KServe's InferenceService schema (deployments/kserve), checked as `kubectl apply --validate=strict` would:
an unknown field anywhere is an error, not silently pruned."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jsonschema import Draft7Validator

from tests.conftest import ROOT

SCHEMA = ROOT / "deployments" / "kserve" / "inferenceservice-v1beta1.schema.json"


def _strict(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items()}
        structural = "properties" in out and "additionalProperties" not in out
        if structural and not out.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


@cache
def validator() -> Draft7Validator:
    """A validator for InferenceService objects (metadata beyond name/namespace is Kubernetes' own)."""
    schema = _strict(json.loads(SCHEMA.read_text()))
    schema["properties"]["metadata"] = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "pattern": r"^[a-z]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
            "namespace": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 63}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "required": ["name"],
        "additionalProperties": False,
    }
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata", "spec"})
    return Draft7Validator(schema)


def problems(manifest: dict) -> list[str]:
    """Every schema violation, as 'path: message' (empty when the manifest is valid)."""
    return [
        f"{'.'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}"
        for e in sorted(validator().iter_errors(manifest), key=lambda e: list(map(str, e.absolute_path)))
    ]
