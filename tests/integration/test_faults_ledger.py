"""The tracking server SIGKILLed just after the ledger run is created and during the evidence upload, and a short
outage the retries ride out; then restarted, and the promotion run again (tests/integration/faults.py)."""

from __future__ import annotations

from tests.integration.faults import fault_test

test_server_killed_at_a_fault_point = fault_test(["d-ledger-run-created", "e-evidence-upload", "g-short-outage"])
