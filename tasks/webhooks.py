"""Registry webhooks for modelgate: one MLflow webhook per model (named `modelgate.<model as a slug>-<hash>`,
its URL naming the model), each with its own generated secret, kept in $MODELGATE_HOME/webhooks/secrets.json
(mode 0600) where the receiver reads it."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from mlflow.exceptions import MlflowException

from gates.errors import BadInputError
from gates.webhook_events import EVENTS
from tasks.evidence import modelgate_home
from tasks.mlflow_store import client
from tasks.registry import resolve_registered_model
from tasks.retrying import retried

PREFIX = "modelgate."


def webhook_name(model: str) -> str:
    """A webhook name MLflow accepts (letters, digits, '.', '_', '-'; under 63 characters) unique to the model."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-._")[:40]
    return f"{PREFIX}{slug}-{hashlib.sha256(model.encode()).hexdigest()[:8]}"


def url_model(url: str) -> str:
    """The model a modelgate webhook URL names (its `model` query parameter)."""
    return (parse_qs(urlsplit(url).query).get("model") or [""])[0]


def secrets_path() -> Path:
    """$MODELGATE_HOME/webhooks/secrets.json."""
    return modelgate_home() / "webhooks" / "secrets.json"


def read_secrets() -> dict[str, str]:
    """Model name -> webhook secret (empty when none was installed)."""
    path = secrets_path()
    return json.loads(path.read_text()) if path.is_file() else {}


def _write_secrets(found: dict[str, str]) -> None:
    path = secrets_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.touch(mode=0o600)
    tmp.write_text(json.dumps(found, indent=2, sort_keys=True))
    tmp.replace(path)


def model_url(url: str, model: str) -> str:
    """The receiver URL with `?model=<model>`; BadInputError unless it is an http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadInputError(f"webhook URL {url!r} is not an http(s) URL")
    query = {k: v for k, v in parse_qs(parts.query).items() if k != "model"}
    return urlunsplit(parts._replace(query=urlencode({**query, "model": model}, doseq=True)))


def installed() -> list[dict[str, str]]:
    """modelgate's webhooks on the tracking server: name, model, URL, events, status."""
    c, found, token = client(), [], None
    while True:
        page = retried(c.list_webhooks, max_results=100, page_token=token)
        found += [w for w in page if w.name.startswith(PREFIX)]
        token = page.token
        if not token:
            break
    return [
        {
            "model": url_model(w.url),
            "name": w.name,
            "webhook_id": w.webhook_id,
            "url": w.url,
            "events": ",".join(str(e) for e in w.events),
            "status": str(w.status),
        }
        for w in found
    ]


def _delete(model: str, keep: str | None = None) -> int:
    """Delete the model's webhooks (all but `keep`); returns how many."""
    c = client()
    gone = [w for w in installed() if w["model"] == model or w["name"] == webhook_name(model)]
    gone = [w for w in gone if w["webhook_id"] != keep]
    for w in gone:
        retried(c.delete_webhook, w["webhook_id"])
    return len(gone)


def uninstall(model: str) -> int:
    """Delete the model's webhooks and its secret; returns how many webhooks were deleted."""
    deleted = _delete(model)
    kept = read_secrets()
    if kept.pop(model, None) is not None:
        _write_secrets(kept)
    return deleted


def install(model: str, url: str) -> dict[str, str]:
    """Register the model's webhook for created versions and alias changes with a fresh secret; a webhook
    installed before is replaced only once the tracking server has accepted the new one."""
    c = client()
    target = model_url(url, model)
    resolve_registered_model(c, model)
    secret = secrets.token_urlsafe(32)
    try:
        hook = retried(
            c.create_webhook,
            name=webhook_name(model),
            url=target,
            events=list(EVENTS),
            description=f"modelgate: promotions of {model} on new versions; reconcile on champion moves",
            secret=secret,
        )
    except MlflowException as exc:
        raise BadInputError(f"the tracking server refused the webhook: {str(exc).splitlines()[0]}") from None
    _write_secrets({**read_secrets(), model: secret})
    _delete(model, keep=hook.webhook_id)
    return {"model": model, "webhook_id": hook.webhook_id, "url": target}
