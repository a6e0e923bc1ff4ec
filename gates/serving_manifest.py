"""A KServe InferenceService (serving.kserve.io/v1beta1) for a promoted version, from what the gates measured."""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import urlsplit

from gates.result import GateResult
from gates.serving_policy import ServingPolicy

API_VERSION = "serving.kserve.io/v1beta1"
PORT = 8080  # MLServer's HTTP port under KServe
READY_PATH = "/v2/health/ready"  # the V2 inference protocol's health endpoints (MLServer serves MLflow models)
LIVE_PATH = "/v2/health/live"
ANNOTATION = "serving.modelgate.io"


def service_name(model_name: str, policy: ServingPolicy) -> str:
    """The policy's name, or the model's name as a DNS label (lowercase, dashes, starts with a letter)."""
    if policy.name:
        return policy.name
    text = re.sub(r"[^a-z0-9]+", "-", model_name.lower()).strip("-")
    if not text or not text[0].isalpha():
        text = f"model-{text}".rstrip("-")
    return text[:45].rstrip("-")


def mebibytes(value: float) -> str:
    """A Kubernetes memory quantity in whole MiB, rounded up."""
    return f"{max(1, math.ceil(value))}Mi"


def measured_resources(latency: GateResult | None, policy: ServingPolicy) -> tuple[dict[str, Any], dict[str, str]]:
    """(resources, annotations) from the latency gate: host memory peak -> request, peak x margin -> limit; a GPU
    only when the judged target ran on CUDA, with its memory peak and budget as annotations (Kubernetes has no
    GPU memory limit). Nothing is invented when the gate did not measure."""
    details = latency.details if latency is not None else {}
    if latency is None or "environment" not in details or not details.get("candidate"):
        why = "did not run" if latency is None else latency.status.value
        return {}, {f"{ANNOTATION}/resources": f"not measured (the latency gate {why})"}
    env = details["environment"]
    requests: dict[str, Any] = {"cpu": str(env["threads"])} if env.get("threads") else {}
    limits: dict[str, Any] = {}
    on_gpu = details.get("judged_target") == "module" and env.get("module_device") == "cuda"
    where = env.get("device_name", env.get("device", "?")) if on_gpu else "CPU"
    notes = {f"{ANNOTATION}/resources": f"from the latency gate ({details.get('judged_target', 'served')} on {where})"}
    host_peak = details.get("host_memory_peak_mib")
    if host_peak:
        requests["memory"] = mebibytes(host_peak)
        limits["memory"] = mebibytes(host_peak * (1 + policy.memory_margin))
        notes[f"{ANNOTATION}/memory-peak-mib"] = f"{host_peak:.0f}"
    if on_gpu:
        requests["nvidia.com/gpu"] = "1"
        limits["nvidia.com/gpu"] = "1"
        gpu_peaks = [s["peak_memory_mb"] for s in details["candidate"] if s.get("peak_memory_mb")]
        if gpu_peaks:
            peak = max(gpu_peaks)
            notes[f"{ANNOTATION}/gpu-memory-peak-mib"] = f"{peak:.0f}"
            notes[f"{ANNOTATION}/gpu-memory-budget-mib"] = str(math.ceil(peak * (1 + policy.memory_margin)))
    notes[f"{ANNOTATION}/memory-margin"] = f"{policy.memory_margin:g}"
    resources = ({"requests": requests} if requests else {}) | ({"limits": limits} if limits else {})
    return resources, notes


def served_from(download_uri: str, policy: ServingPolicy) -> tuple[str, dict[str, str]]:
    """(storageUri, annotations): an `mlflow-artifacts:` URI (a tracking server proxying artifacts) rewritten
    onto the policy's artifacts_destination; without one it is kept, with a note that KServe cannot read it."""
    proxied = download_uri.startswith("mlflow-artifacts:")
    if not proxied:
        return download_uri, {}
    if policy.artifacts_destination:
        path = urlsplit(download_uri).path.lstrip("/")  # mlflow-artifacts:/p, :///p and ://host:port/p
        return f"{policy.artifacts_destination.rstrip('/')}/{path}", {}
    note = (
        "mlflow-artifacts: is the tracking server's proxy, which KServe cannot read: set serving.artifacts_destination"
    )
    return download_uri, {f"{ANNOTATION}/storage-warning": note}


def inference_service(
    *,
    model_name: str,
    version: str,
    storage_uri: str,
    policy: ServingPolicy,
    latency: GateResult | None,
    ledger_run_id: str | None,
    policy_hash: str,
) -> dict[str, Any]:
    """The InferenceService manifest for `version` of `model_name` served from `storage_uri`."""
    resources, notes = measured_resources(latency, policy)
    storage_uri, storage_notes = served_from(storage_uri, policy)
    notes |= storage_notes
    probe = {"initialDelaySeconds": 5, "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3}
    model: dict[str, Any] = {
        "modelFormat": {"name": "mlflow"},
        "protocolVersion": "v2",
        "storageUri": storage_uri,
        "readinessProbe": {"httpGet": {"path": READY_PATH, "port": PORT}} | probe,
        "livenessProbe": {"httpGet": {"path": LIVE_PATH, "port": PORT}} | probe,
    }
    if policy.runtime:
        model["runtime"] = policy.runtime
    if resources:
        model["resources"] = resources
    predictor: dict[str, Any] = {
        "minReplicas": policy.min_replicas,
        "maxReplicas": max(policy.max_replicas, policy.min_replicas),
        "model": model,
    }
    if policy.canary_traffic_percent is not None:
        predictor["canaryTrafficPercent"] = policy.canary_traffic_percent
    metadata: dict[str, Any] = {
        "name": service_name(model_name, policy),
        "labels": {"app.kubernetes.io/managed-by": "modelgate", f"{ANNOTATION}/version": version},
        "annotations": {
            f"{ANNOTATION}/model": model_name,
            f"{ANNOTATION}/model-uri": f"models:/{model_name}/{version}",
            f"{ANNOTATION}/policy-hash": policy_hash,
            **({f"{ANNOTATION}/ledger-run": ledger_run_id} if ledger_run_id else {}),
            **notes,
        },
    }
    if policy.namespace:
        metadata["namespace"] = policy.namespace
    return {
        "apiVersion": API_VERSION,
        "kind": "InferenceService",
        "metadata": metadata,
        "spec": {"predictor": predictor},
    }
