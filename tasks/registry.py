"""Registry reads and writes: resolve versions, tags, and the compare-and-set champion move."""

from __future__ import annotations

from dataclasses import dataclass

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from gates.errors import BadInputError

TAG_PREFIX = "modelgate."
MAX_TAG_VALUE = 5000


@dataclass(frozen=True)
class VersionRef:
    """One model version as the pipeline sees it."""

    name: str
    version: str
    status: str
    source: str
    run_id: str | None

    @property
    def uri(self) -> str:
        """Registry URI of this version."""
        return f"models:/{self.name}/{self.version}"


def _ref(mv: ModelVersion) -> VersionRef:
    return VersionRef(
        name=mv.name, version=str(mv.version), status=str(mv.status), source=str(mv.source), run_id=mv.run_id
    )


def _not_found(exc: MlflowException) -> bool:
    return exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND")


def resolve_registered_model(client: MlflowClient, name: str) -> None:
    """BadInputError unless the registered model exists."""
    try:
        client.get_registered_model(name)
    except MlflowException as exc:
        if _not_found(exc):
            raise BadInputError(f"registered model {name!r} not found in {client.tracking_uri}") from None
        raise


def resolve_version(client: MlflowClient, name: str, version: str) -> VersionRef:
    """The named version, which must exist and be READY; BadInputError otherwise."""
    version = str(version).strip()
    if not version.isdigit() or int(version) < 1:
        raise BadInputError(f"version must be a positive integer, got {version!r}")
    resolve_registered_model(client, name)
    try:
        mv = client.get_model_version(name, version)
    except MlflowException as exc:
        if _not_found(exc):
            raise BadInputError(f"model {name!r} has no version {version}") from None
        raise
    ref = _ref(mv)
    if ref.status != "READY":
        raise BadInputError(f"model {name!r} version {version} is {ref.status}, not READY")
    return ref


def champion(client: MlflowClient, name: str, alias: str) -> VersionRef | None:
    """The version holding the champion alias, or None when the alias is not set."""
    try:
        return _ref(client.get_model_version_by_alias(name, alias))
    except MlflowException as exc:
        if _not_found(exc):
            return None
        raise


def set_version_tags(client: MlflowClient, ref: VersionRef, tags: dict[str, str]) -> None:
    """Write `modelgate.*` tags on a version (values truncated to MLflow's limit)."""
    for key, value in tags.items():
        client.set_model_version_tag(ref.name, ref.version, TAG_PREFIX + key, str(value)[:MAX_TAG_VALUE])


@dataclass(frozen=True)
class AliasMove:
    """Outcome of a compare-and-set champion move."""

    moved: bool
    champion_before: str | None
    champion_after: str | None
    message: str


def compare_and_set_champion(
    client: MlflowClient,
    name: str,
    candidate: str,
    expected_champion: str | None,
    alias: str,
    previous_alias: str,
) -> AliasMove:
    """Move `alias` to the candidate only if it still points at `expected_champion`; read it back after."""
    current = champion(client, name, alias)
    current_version = current.version if current else None
    if current_version != expected_champion:
        return AliasMove(
            False,
            current_version,
            current_version,
            f"champion moved from {expected_champion or 'none'} to {current_version or 'none'} during evaluation; "
            "not promoting on stale evidence",
        )
    if expected_champion is not None:
        client.set_registered_model_alias(name, previous_alias, expected_champion)
    client.set_registered_model_alias(name, alias, candidate)
    after = champion(client, name, alias)
    after_version = after.version if after else None
    if after_version != candidate:
        return AliasMove(
            False, current_version, after_version, f"read-back shows champion {after_version}, not {candidate}"
        )
    return AliasMove(
        True, current_version, after_version, f"champion moved from {current_version or 'none'} to {candidate}"
    )
