"""How flows are run from the CLI: settings that depend on where the Prefect API is."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def flow_settings() -> Iterator[None]:
    """Run flows with settings suited to the Prefect API in use.

    On Prefect's temporary local server (no PREFECT_API_URL) flow-run heartbeats are switched off:
    that server lives and dies with this process, so nothing can act on a missed heartbeat, and the
    heartbeat thread otherwise holds every flow's exit for up to a second. Against a real server
    (PREFECT_API_URL set) heartbeats stay on so crashed runs are detected.
    """
    if os.environ.get("PREFECT_API_URL"):
        yield
        return
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
