"""Registry reads and writes: resolve versions, tags, and the compare-and-set champion move."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from gates.errors import BadInputError
from gates.names import TAG_PREFIX
from tasks.fault_points import checkpoint
from tasks.retrying import retried

MAX_TAG_VALUE = 5000
STAMP = "modelgate.files_sha256"  # the version's files' digest, set the first time modelgate decides on it
STAMPED_AT = "modelgate.files_first_seen"
STAMP_TAGS = (STAMP, STAMPED_AT)
DESCRIPTION_MARK = "**modelgate**: "


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
        retried(client.get_registered_model, name)
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
        mv = retried(client.get_model_version, name, version)
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
        return _ref(retried(client.get_model_version_by_alias, name, alias))
    except MlflowException as exc:
        if _not_found(exc):
            return None
        raise


def version_tags_of(client: MlflowClient, name: str, version: str) -> dict[str, str]:
    """The version's `modelgate.*` tags, without the prefix."""
    tags = retried(client.get_model_version, name, version).tags or {}
    return {k.removeprefix(TAG_PREFIX): v for k, v in tags.items() if k.startswith(TAG_PREFIX)}


def set_version_tags(client: MlflowClient, ref: VersionRef, tags: dict[str, str]) -> None:
    """Write `modelgate.*` tags on a version (values truncated to MLflow's limit)."""
    for key, value in tags.items():
        retried(client.set_model_version_tag, ref.name, ref.version, TAG_PREFIX + key, str(value)[:MAX_TAG_VALUE])


def replace_version_tags(client: MlflowClient, ref: VersionRef, tags: dict[str, str]) -> None:
    """Make the version's `modelgate.*` tags exactly `tags`: older ones (e.g. from a rollback) are removed, but
    not the files' stamp (STAMP_TAGS), which stays from the first decision on."""
    current = retried(client.get_model_version, ref.name, ref.version).tags or {}
    wanted = {TAG_PREFIX + k: str(v)[:MAX_TAG_VALUE] for k, v in tags.items()}
    for key in current:
        if key.startswith(TAG_PREFIX) and key not in wanted and key not in STAMP_TAGS:
            retried(client.delete_model_version_tag, ref.name, ref.version, key)
    for key, value in wanted.items():
        if current.get(key) != value:
            retried(client.set_model_version_tag, ref.name, ref.version, key, value)
            checkpoint("version_tags")


def set_decision_line(client: MlflowClient, ref: VersionRef, line: str) -> None:
    """Put modelgate's one-line decision first in the version's description, keeping the owner's text."""
    description = retried(client.get_model_version, ref.name, ref.version).description or ""
    own = (
        description.split("\n\n", 1)[1]
        if description.startswith(DESCRIPTION_MARK) and "\n\n" in description
        else ("" if description.startswith(DESCRIPTION_MARK) else description)
    )
    text = DESCRIPTION_MARK + line.replace("\n", " ") + ("\n\n" + own if own else "")
    retried(client.update_model_version, ref.name, ref.version, description=text)


def owner_description(description: str | None) -> str:
    """The version's description without modelgate's decision line."""
    text = description or ""
    if not text.startswith(DESCRIPTION_MARK):
        return text
    return text.split("\n\n", 1)[1] if "\n\n" in text else ""


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
    """Move `alias` to the candidate only if it still points at `expected_champion`, keep the replaced champion
    under `previous_alias`, and read the alias back (every step retried; setting an alias is idempotent, so a
    lost answer is simply asked again)."""
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
    retried(client.set_registered_model_alias, name, alias, candidate)
    checkpoint("alias_moved")
    if expected_champion is not None:
        retried(client.set_registered_model_alias, name, previous_alias, expected_champion)
    checkpoint("alias_readback")
    after = champion(client, name, alias)
    after_version = after.version if after else None
    if after_version != candidate:
        return AliasMove(
            False, current_version, after_version, f"read-back shows champion {after_version}, not {candidate}"
        )
    return AliasMove(
        True, current_version, after_version, f"champion moved from {current_version or 'none'} to {candidate}"
    )


def set_champion(client: MlflowClient, name: str, alias: str, version: str) -> str | None:
    """Point the alias at `version` (no comparison) and return what a read-back shows."""
    retried(client.set_registered_model_alias, name, alias, version)
    after = champion(client, name, alias)
    return after.version if after else None


def registered_model(client: MlflowClient, name: str) -> Any:
    """The registered model entity (retried)."""
    return retried(client.get_registered_model, name)


def created_at(client: MlflowClient, name: str) -> datetime:
    """When the registered model was created (ledger entries older than that belong to an earlier model)."""
    model = retried(client.get_registered_model, name)
    return datetime.fromtimestamp(int(model.creation_timestamp) / 1000, tz=UTC)
