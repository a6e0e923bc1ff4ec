"""MLflow registry webhooks, read: the signature check (MLflow's v1 scheme: base64 HMAC-SHA256 of
"<delivery id>.<timestamp>.<body>") and the Prefect events a delivery becomes. Pure: the receiver does I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_HEADER = "X-MLflow-Delivery-Id"
EVENTS = ("model_version.created", "model_version_alias.created", "model_version_alias.deleted")
VERSION_CREATED = "modelgate.version.created"
CHAMPION_MOVED = "modelgate.champion.moved"


def signature(secret: str, delivery_id: str, timestamp: str, body: str) -> str:
    """The X-MLflow-Signature value MLflow sends for this delivery."""
    mac = hmac.new(secret.encode(), f"{delivery_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def unsigned_problem(secret: str, headers: dict[str, str], body: str, now: float, window_s: float) -> str | None:
    """Why a delivery must be refused (missing headers, stale timestamp, wrong signature), or None.
    The signature is compared in constant time."""
    delivery, stamp, signed = (headers.get(h.lower()) for h in (DELIVERY_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER))
    if not delivery or not stamp or not signed:
        return "unsigned delivery (missing X-MLflow-Delivery-Id, -Timestamp or -Signature)"
    try:
        sent = int(stamp)
    except ValueError:
        return f"timestamp {stamp[:40]!r} is not a Unix time"
    if abs(now - sent) > window_s:
        return f"stale delivery: timestamp {sent} is {abs(now - sent):.0f} s from now (window {window_s:g} s)"
    if not hmac.compare_digest(signature(secret, delivery, stamp, body).encode(), signed.encode()):
        return "wrong signature"
    return None


@dataclass(frozen=True)
class RegistryEvent:
    """A Prefect event to emit for one delivery."""

    event: str
    resource: dict[str, str]
    payload: dict[str, Any] = field(default_factory=dict)


def prefect_event(body: str, champion_alias: str) -> RegistryEvent | None:
    """The Prefect event a delivery becomes: a created version, or a move of the champion alias (set or
    removed); None for anything else (another alias, another entity)."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("data"), dict):
        return None
    kind, item = f"{data.get('entity')}.{data.get('action')}", data["data"]
    name = str(item.get("name") or "")
    if not name:
        return None
    if kind == "model_version.created" and item.get("version") is not None:
        version = str(item["version"])
        return RegistryEvent(
            VERSION_CREATED,
            {
                "prefect.resource.id": f"modelgate.model.{name}.v{version}",
                "modelgate.model": name,
                "modelgate.version": version,
            },
            {"source": item.get("source"), "run_id": item.get("run_id")},
        )
    if kind.startswith("model_version_alias.") and item.get("alias") == champion_alias:
        return RegistryEvent(
            CHAMPION_MOVED,
            {"prefect.resource.id": f"modelgate.model.{name}", "modelgate.model": name},
            {"alias": champion_alias, "action": data.get("action"), "version": item.get("version")},
        )
    return None
