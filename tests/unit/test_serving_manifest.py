"""The KServe InferenceService written on promotion: built from the latency gate's measurements, valid against
KServe's published schema (deployments/kserve) with unknown fields refused."""

from __future__ import annotations

import pytest

from gates.errors import PolicyError
from gates.policy import parse_policy
from gates.result import GateResult, GateStatus, errored
from gates.serving_manifest import inference_service, service_name
from gates.serving_policy import ServingPolicy
from tests.kserve_schema import problems

URI = "s3://models/12/artifacts"


def latency(
    device: str, host_peak: float | None = 612.4, gpu_peaks: tuple = (None, None), judged: str = "served"
) -> GateResult:
    env = {
        "device": device,
        "device_name": "NVIDIA H100" if device == "cuda" else "x86_64",
        "threads": 2,
        "module_device": device,
    }
    candidate = [{"batch_size": b, "peak_memory_mb": p} for b, p in zip((1, 64), gpu_peaks, strict=True)]
    details = {"environment": env, "candidate": candidate, "host_memory_peak_mib": host_peak, "judged_target": judged}
    return GateResult(gate="latency", status=GateStatus.PASSED, summary="ok", details=details)


def build(policy: ServingPolicy | None = None, gate: GateResult | None = None, name: str = "Fraud_Scorer") -> dict:
    return inference_service(
        model_name=name,
        version="12",
        storage_uri=URI,
        policy=policy or ServingPolicy(),
        latency=gate,
        ledger_run_id="abc123",
        policy_hash="f" * 64,
    )


def test_cpu_measurements_become_requests_and_limits():
    manifest = build(gate=latency("cpu"))
    assert problems(manifest) == []
    predictor = manifest["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10
    model = predictor["model"]
    assert model["modelFormat"] == {"name": "mlflow"} and model["protocolVersion"] == "v2"
    assert model["storageUri"] == URI
    # 612.4 MiB measured: request the peak, limit it with the 50% margin (918.6 -> 919), both rounded up
    assert model["resources"] == {"requests": {"cpu": "2", "memory": "613Mi"}, "limits": {"memory": "919Mi"}}
    assert model["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 8080}
    assert model["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": 8080}
    meta = manifest["metadata"]
    assert meta["name"] == "fraud-scorer" and "namespace" not in meta
    assert meta["annotations"]["serving.modelgate.io/model-uri"] == "models:/Fraud_Scorer/12"
    assert meta["annotations"]["serving.modelgate.io/ledger-run"] == "abc123"
    assert meta["annotations"]["serving.modelgate.io/memory-peak-mib"] == "612"


def test_a_gpu_measurement_asks_for_a_gpu_and_states_its_memory_budget():
    manifest = build(ServingPolicy(memory_margin=0.25), latency("cuda", gpu_peaks=(310.2, 1500.0), judged="module"))
    assert problems(manifest) == []
    resources = manifest["spec"]["predictor"]["model"]["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == "1" and resources["limits"]["nvidia.com/gpu"] == "1"
    notes = manifest["metadata"]["annotations"]
    assert notes["serving.modelgate.io/gpu-memory-peak-mib"] == "1500"
    assert notes["serving.modelgate.io/gpu-memory-budget-mib"] == "1875"
    assert notes["serving.modelgate.io/resources"] == "from the latency gate (module on NVIDIA H100)"
    # On the same GPU machine, a model judged as served (predict() on CPU) asks for no GPU.
    served = build(gate=latency("cuda", judged="served"))["spec"]["predictor"]["model"]["resources"]
    assert served == {"requests": {"cpu": "2", "memory": "613Mi"}, "limits": {"memory": "919Mi"}}


def test_without_a_latency_measurement_no_resources_are_invented():
    skipped = GateResult(gate="latency", status=GateStatus.SKIPPED, summary="no GPU")
    broken = errored("latency", "the candidate's latency sweep timed out")
    for gate, why in ((None, "did not run"), (skipped, "skipped"), (broken, "errored")):
        manifest = build(gate=gate)
        assert problems(manifest) == []
        assert "resources" not in manifest["spec"]["predictor"]["model"]
        assert (
            manifest["metadata"]["annotations"]["serving.modelgate.io/resources"]
            == f"not measured (the latency gate {why})"
        )


def test_a_proxied_artifact_uri_is_served_from_the_destination():
    proxied = "mlflow-artifacts:/3/models/m-1/artifacts"
    policy = ServingPolicy(artifacts_destination="s3://ml/artifacts/")
    for uri in (
        proxied,
        "mlflow-artifacts://tracking:5000/3/models/m-1/artifacts",
        "mlflow-artifacts:///3/models/m-1/artifacts",
    ):
        manifest = inference_service(
            model_name="m", version="1", storage_uri=uri, policy=policy, latency=None, ledger_run_id=None,
            policy_hash="0" * 64,
        )  # fmt: skip
        assert manifest["spec"]["predictor"]["model"]["storageUri"] == "s3://ml/artifacts/3/models/m-1/artifacts"
    kept = inference_service(
        model_name="m", version="1", storage_uri=proxied, policy=ServingPolicy(), latency=None, ledger_run_id=None,
        policy_hash="0" * 64,
    )  # fmt: skip
    assert kept["spec"]["predictor"]["model"]["storageUri"] == proxied
    assert "which KServe cannot read" in kept["metadata"]["annotations"]["serving.modelgate.io/storage-warning"]


def test_policy_choices_reach_the_manifest():
    policy = ServingPolicy(
        name="scorer", namespace="ml-prod", canary_traffic_percent=None, runtime="kserve-mlserver", max_replicas=4
    )
    manifest = build(policy, latency("cpu"))
    assert problems(manifest) == []
    assert manifest["metadata"]["name"] == "scorer" and manifest["metadata"]["namespace"] == "ml-prod"
    predictor = manifest["spec"]["predictor"]
    assert "canaryTrafficPercent" not in predictor and predictor["maxReplicas"] == 4
    assert predictor["model"]["runtime"] == "kserve-mlserver"


@pytest.mark.parametrize(("model", "name"), [("adult-income", "adult-income"), ("2024 churn", "model-2024-churn")])
def test_service_names_are_dns_labels(model, name):
    assert service_name(model, ServingPolicy()) == name
    assert service_name("x" * 80, ServingPolicy()) == "x" * 45


def test_the_schema_check_refuses_what_kserve_would():
    manifest = build(gate=latency("cpu"))
    manifest["spec"]["predictor"]["model"]["storageURI"] = URI  # misspelt: pruned by a lax apply, refused here
    manifest["spec"]["predictor"]["canaryTrafficPercent"] = "ten"
    assert problems(manifest) == [
        "spec.predictor.canaryTrafficPercent: 'ten' is not of type 'integer'",
        "spec.predictor.model: Additional properties are not allowed ('storageURI' was unexpected)",
    ]


@pytest.mark.parametrize(
    ("serving", "error"),
    [
        ({"canary_traffic_percent": 150}, "serving.canary_traffic_percent: Input should be less than or equal to 100"),
        ({"name": "Not_A_Label"}, "serving.name: String should match pattern"),
        ({"memory_margin": -1}, "serving.memory_margin: Input should be greater than or equal to 0"),
        ({"canary": 10}, "serving.canary: Extra inputs are not permitted"),
    ],
)
def test_bad_serving_policies_are_one_line_errors(serving, error):
    data = {"model_name": "m", "eval_data": {"path": "e.parquet", "target": "y"}, "serving": serving}
    with pytest.raises(PolicyError) as caught:
        parse_policy(data)
    assert str(caught.value).startswith(f"policy: {error}") and "\n" not in str(caught.value)
