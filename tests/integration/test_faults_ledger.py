"""The tracking server SIGKILLed around the ledger run (created, evidence upload, version tags, finalise) and a
short outage the retries ride out; then restarted, and the promotion or `reconcile` run again
(tests/integration/faults.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.faults import Template, kill_at_a_fault_point

pytestmark = pytest.mark.slow
CASES = [
    "d-ledger-run-created",
    "e-evidence-upload",
    "f-version-tags",
    "f-back-before-mark-failed",
    "finalise",
    "g-short-outage",
]


@pytest.mark.parametrize("case", CASES)
def test_server_killed_at_a_fault_point(case: str, template: Template, prefect_server_api: str, tmp_path: Path):
    kill_at_a_fault_point(case, template, prefect_server_api, tmp_path)
