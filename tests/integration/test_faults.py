"""The tracking server SIGKILLed during the gates, after the decision and just before the champion alias move;
then restarted, and the promotion run again (tests/integration/faults.py)."""

from __future__ import annotations

from tests.integration.faults import CASES_WITH_A_TEST, FAULTS, fault_test

test_server_killed_at_a_fault_point = fault_test(["a-during-gates", "b-after-decision", "b-before-alias-move"])


def test_every_fault_case_is_run_by_exactly_one_file():
    from tests.integration import test_faults_alias, test_faults_ledger, test_faults_tags  # noqa: F401

    assert sorted(CASES_WITH_A_TEST) == sorted(FAULTS)
