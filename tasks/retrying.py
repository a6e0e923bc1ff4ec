"""Retries with backoff for registry and tracking I/O, and a bounded reachability check of the server."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import httpx
from mlflow.exceptions import MlflowException, RestException
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential_jitter

T = TypeVar("T")
RETRY_SECONDS_ENV = "MODELGATE_RETRY_SECONDS"
TIMEOUT_ENV = "MODELGATE_TRACKING_TIMEOUT_S"
TRANSIENT_CODES = {"TEMPORARILY_UNAVAILABLE", "INTERNAL_ERROR", "REQUEST_LIMIT_EXCEEDED", "RESOURCE_EXHAUSTED"}


class TrackingUnavailable(RuntimeError):
    """The tracking server did not answer within the configured time; nothing was written."""


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, MlflowException):  # refused (401, 403, 404...): asking again changes nothing
        status = exc.get_http_status_code() or 0
        if 400 <= status < 500 and exc.error_code not in TRANSIENT_CODES:
            return False
    if isinstance(exc, RestException):
        return exc.error_code in TRANSIENT_CODES or (exc.get_http_status_code() or 0) >= 500
    if isinstance(exc, MlflowException):
        text = str(exc)
        return exc.error_code in TRANSIENT_CODES or "Max retries exceeded" in text or "API request to" in text
    return isinstance(exc, (ConnectionError, TimeoutError, OSError, httpx.TransportError))


def retry_seconds() -> float:
    """How long one registry or tracking operation keeps retrying ($MODELGATE_RETRY_SECONDS, default 60)."""
    return float(os.environ.get(RETRY_SECONDS_ENV, "60"))


def retried(fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    """fn(*args, **kwargs), retried with exponential backoff while the failure looks transient."""
    for attempt in Retrying(
        retry=retry_if_exception(_transient),
        stop=stop_after_delay(retry_seconds()),
        wait=wait_exponential_jitter(initial=0.5, max=8),
        reraise=True,
    ):
        with attempt:
            return fn(*args, **kwargs)
    raise AssertionError("unreachable")  # pragma: no cover


def tracking_timeout() -> float:
    """Seconds the tracking server has to answer ($MODELGATE_TRACKING_TIMEOUT_S, default 10)."""
    return float(os.environ.get(TIMEOUT_ENV, "10"))


def check_reachable(tracking_uri: str) -> None:
    """For an HTTP tracking server: its /health must answer within the timeout, else TrackingUnavailable."""
    if not tracking_uri.startswith(("http://", "https://")):
        return
    timeout = tracking_timeout()
    url = tracking_uri.rstrip("/") + "/health"
    try:
        response = httpx.get(url, timeout=timeout)
    except httpx.TimeoutException:
        raise TrackingUnavailable(f"tracking server {tracking_uri} did not answer within {timeout:g} s") from None
    except httpx.TransportError as exc:
        raise TrackingUnavailable(f"tracking server {tracking_uri} is unreachable: {exc}") from None
    if response.status_code >= 500:
        raise TrackingUnavailable(f"tracking server {tracking_uri} answered HTTP {response.status_code} on /health")
