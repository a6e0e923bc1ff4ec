"""The tracking server SIGKILLed while the version tags are written (also back before the attempt is marked
FAILED) and before the ledger run is finalised; then restarted, and `reconcile` run
(tests/integration/faults.py)."""

from __future__ import annotations

from tests.integration.faults import fault_test

test_server_killed_at_a_fault_point = fault_test(["f-version-tags", "f-back-before-mark-failed", "finalise"])
