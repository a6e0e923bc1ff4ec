"""One promotion per model at a time: a Prefect global concurrency limit keyed by model name."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency._asyncio import ConcurrencySlotAcquisitionError
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from gates.errors import LockTimeout
from gates.names import LOCK_PREFIX

LEASE_SECONDS = 60  # a holder that dies without releasing frees the lock after this long


def lock_name(model: str) -> str:
    """Concurrency-limit name for a model (letters, digits, dashes; a hash keeps odd names distinct)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "-", model).strip("-")[:80]
    if safe != model:
        safe += "-" + hashlib.sha256(model.encode()).hexdigest()[:8]
    return LOCK_PREFIX + safe


_KNOWN: set[tuple[str, str]] = set()  # (API URL, limit name) seen to exist by this process


def ensure_limit(name: str) -> None:
    """Create the limit with one slot if it does not exist (an existing limit is left as configured); a limit
    this process has seen is not asked for again."""
    from prefect.settings import PREFECT_API_URL

    known = (str(PREFECT_API_URL.value() or "temporary"), name)
    if known in _KNOWN:
        return
    _create_if_missing(name)
    _KNOWN.add(known)


def _create_if_missing(name: str) -> None:
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
            return
        except ObjectNotFound:
            pass
        try:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
        except ObjectAlreadyExists:
            pass  # created by a promotion that started at the same moment
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != 409:
                raise


@contextmanager
def promotion_lock(model: str, timeout_s: float) -> Iterator[str]:
    """Hold the model's promotion slot; LockTimeout after `timeout_s`."""
    name = lock_name(model)
    ensure_limit(name)
    entered = False
    try:
        with _slot(name, timeout_s):
            entered = True
            yield name
    except TimeoutError:
        if entered:
            raise
        raise LockTimeout(
            f"could not take the promotion lock {name!r} within {timeout_s:g} s: another promotion of "
            f"{model!r} is deciding; nothing was written"
        ) from None


@contextmanager
def _slot(name: str, timeout_s: float) -> Iterator[None]:
    """The limit's one slot; a limit deleted since this process saw it is created again."""

    def take() -> AbstractContextManager[None]:
        return concurrency(name, occupy=1, timeout_seconds=timeout_s, strict=True, lease_duration=LEASE_SECONDS)

    with ExitStack() as stack:
        try:
            stack.enter_context(take())
        except ConcurrencySlotAcquisitionError:
            _KNOWN.clear()
            ensure_limit(name)
            stack.enter_context(take())
        yield
