"""decide() as a table."""

from __future__ import annotations

import pytest

from gates.decision import Verdict, decide
from gates.result import GateResult, GateStatus


def r(gate: str, status: str, blocking: bool = True) -> GateResult:
    return GateResult(gate=gate, status=GateStatus(status), blocking=blocking, summary=f"{gate} {status}")


CASES = [
    ([], False, Verdict.REJECT, ()),
    ([r("evaluation", "passed")], False, Verdict.PROMOTE, ()),
    ([r("evaluation", "failed")], False, Verdict.REJECT, ("evaluation",)),
    ([r("evaluation", "errored")], False, Verdict.REJECT, ("evaluation",)),
    ([r("evaluation", "passed"), r("drift", "warned", False)], False, Verdict.PROMOTE, ()),
    ([r("evaluation", "passed"), r("drift", "warned", False)], True, Verdict.NEEDS_APPROVAL, ()),
    ([r("evaluation", "passed"), r("drift", "errored", False)], False, Verdict.PROMOTE, ()),
    ([r("evaluation", "failed"), r("bias", "failed")], False, Verdict.REJECT, ("evaluation", "bias")),
    ([r("evaluation", "failed"), r("drift", "warned", False)], True, Verdict.REJECT, ("evaluation",)),
    ([r("evaluation", "skipped")], False, Verdict.REJECT, ()),
    ([r("evaluation", "passed"), r("latency", "skipped")], False, Verdict.PROMOTE, ()),
]


@pytest.mark.parametrize(("results", "approval_on_warning", "verdict", "failing"), CASES)
def test_decide_table(results, approval_on_warning, verdict, failing):
    decision = decide(results, require_approval_on_warning=approval_on_warning)
    assert decision.verdict is verdict
    assert decision.failing_gates == failing
    assert decision.reasons


def test_warnings_are_named_in_a_promotion():
    decision = decide([r("evaluation", "passed"), r("drift", "warned", False)])
    assert decision.warning_gates == ("drift",)
    assert any("drift" in reason for reason in decision.reasons)
