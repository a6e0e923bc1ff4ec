"""The policy's `serving` section: the KServe InferenceService written as evidence when a version is promoted."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

K8sName = Annotated[str, StringConstraints(pattern=r"^[a-z]([-a-z0-9]{0,43}[a-z0-9])?$")]


class ServingPolicy(BaseModel):
    """How the promoted champion would be served: what the InferenceService manifest says."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    manifest: bool = Field(True, description="On promotion, write a KServe InferenceService for the new champion.")
    name: K8sName | None = Field(
        None,
        description="The InferenceService's name (a DNS label of at most 45 characters); default: the registered "
        "model's name, lowercased, with every other character a dash.",
    )
    namespace: K8sName | None = Field(None, description="Kubernetes namespace (default: kubectl's current one).")
    canary_traffic_percent: int | None = Field(
        10,
        ge=0,
        le=100,
        description="Share of traffic the new champion takes first while the previous revision keeps the rest "
        "(KServe canaryTrafficPercent); none: all traffic at once.",
    )
    memory_margin: float = Field(
        0.5,
        ge=0,
        le=10,
        description="Memory limit = the latency gate's measured peak x (1 + margin); the request is the peak itself.",
    )
    artifacts_destination: str | None = Field(
        None,
        description="Where a tracking server that proxies artifacts keeps them (its --artifacts-destination, e.g. "
        "s3://bucket/mlartifacts): an mlflow-artifacts: URI, which KServe cannot read, is rewritten onto it.",
    )
    runtime: str | None = Field(
        None, description="A ServingRuntime to use (default: KServe picks one for modelFormat mlflow, MLServer)."
    )
    min_replicas: int = Field(1, ge=0, le=1000, description="KServe minReplicas.")
    max_replicas: int = Field(1, ge=1, le=1000, description="KServe maxReplicas.")
