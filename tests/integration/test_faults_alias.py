"""The tracking server SIGKILLed with the champion alias half moved or just before its read-back; then
restarted, and `reconcile` run (tests/integration/faults.py)."""

from __future__ import annotations

from tests.integration.faults import fault_test

test_server_killed_at_a_fault_point = fault_test(["c-alias-set-previous-not", "c-before-read-back"])
