"""The tracking server SIGKILLed during the gates, after the decision, and around the champion alias move; then
restarted, and the promotion or `reconcile` run again (tests/integration/faults.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.faults import Template, kill_at_a_fault_point

pytestmark = pytest.mark.slow
CASES = ["a-during-gates", "b-after-decision", "b-before-alias-move", "c-alias-set-previous-not", "c-before-read-back"]


@pytest.mark.parametrize("case", CASES)
def test_server_killed_at_a_fault_point(case: str, template: Template, prefect_server_api: str, tmp_path: Path):
    kill_at_a_fault_point(case, template, prefect_server_api, tmp_path)
