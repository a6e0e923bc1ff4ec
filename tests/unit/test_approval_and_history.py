"""Approval rules and the champion history, as pure functions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from gates.approval import (
    AnswerStatus,
    ApprovalAnswer,
    ApprovalRecord,
    RequestKind,
    apply_approval,
    approval_request,
    gives_up,
    judge_answer,
)
from gates.champion_history import (
    ChampionMove,
    champion_at,
    champion_chain,
    champion_moves,
    ever_champion,
    parse_time,
    rollback_target,
)
from gates.decision import Decision, Verdict
from gates.errors import BadInputError, PolicyError
from gates.policy import ApprovalPolicy, parse_policy

PROMOTE = Decision(verdict=Verdict.PROMOTE, reasons=("all blocking gates passed",))
WARNED = Decision(verdict=Verdict.NEEDS_APPROVAL, reasons=("drift: 4 columns drifted",), warning_gates=("drift",))
FAILED = Decision(verdict=Verdict.REJECT, reasons=("evaluation: auc fell",), failing_gates=("evaluation",))


def policy(**kw) -> ApprovalPolicy:
    return ApprovalPolicy(**{"mode": "always", "approvers": ["Alice", "bob"], **kw})


@pytest.mark.parametrize(
    ("mode", "override", "decision", "expected"),
    [
        ("never", True, PROMOTE, None),
        ("never", True, FAILED, None),
        ("always", False, PROMOTE, RequestKind.CONFIRM),
        ("always", False, FAILED, None),
        ("always", True, FAILED, RequestKind.OVERRIDE),
        ("on_warning", False, PROMOTE, None),
        ("on_warning", False, WARNED, RequestKind.CONFIRM),
        ("on_warning", True, FAILED, RequestKind.OVERRIDE),
    ],
)
def test_when_a_person_is_asked(mode, override, decision, expected):
    assert approval_request(decision, policy(mode=mode, allow_override=override)) is expected


def test_answers_count_only_from_the_allow_list_and_overrides_need_a_reason():
    p = policy()
    assert judge_answer(ApprovalAnswer(approver=" alice ", approve=True), RequestKind.CONFIRM, p)[0] is (
        AnswerStatus.ACCEPTED
    )
    status, why = judge_answer(ApprovalAnswer(approver="mallory", approve=True), RequestKind.CONFIRM, p)
    assert status is AnswerStatus.NOT_ALLOWED and why == "mallory is not on the approvers list"
    assert judge_answer(ApprovalAnswer(approver="", approve=True), RequestKind.CONFIRM, p)[0] is (
        AnswerStatus.NOT_ALLOWED
    )
    status, _ = judge_answer(ApprovalAnswer(approver="bob", approve=True, reason=" "), RequestKind.OVERRIDE, p)
    assert status is AnswerStatus.NEEDS_REASON
    # confirming a rejection needs no reason
    assert judge_answer(ApprovalAnswer(approver="bob", approve=False), RequestKind.OVERRIDE, p)[0] is (
        AnswerStatus.ACCEPTED
    )


def test_asking_again_stops_at_the_policy_limit_or_at_once_when_told():
    assert not gives_up(AnswerStatus.NOT_ALLOWED, 1, policy(max_requests=2))
    assert gives_up(AnswerStatus.NOT_ALLOWED, 2, policy(max_requests=2))
    assert gives_up(AnswerStatus.NOT_ALLOWED, 1, policy(on_unlisted_approver="reject"))
    assert not gives_up(AnswerStatus.NEEDS_REASON, 1, policy(on_unlisted_approver="reject"))


def test_apply_approval():
    p = policy()
    approved = ApprovalRecord(kind=RequestKind.CONFIRM, requests=1, approver="bob", approved=True, reason="ok")
    assert apply_approval(PROMOTE, approved, p).verdict is Verdict.PROMOTE
    override = approved.model_copy(update={"kind": RequestKind.OVERRIDE, "override": True, "reason": "hotfix"})
    after = apply_approval(FAILED, override, p)
    assert after.verdict is Verdict.PROMOTE and after.failing_gates == ("evaluation",)
    assert after.reasons[0] == "override by bob: hotfix"
    rejected = approved.model_copy(update={"approved": False, "reason": "not now"})
    assert apply_approval(PROMOTE, rejected, p).reasons[0] == "rejected by bob: not now"
    timed_out = ApprovalRecord(kind=RequestKind.CONFIRM, requests=1, timed_out=True)
    assert apply_approval(PROMOTE, timed_out, p).verdict is Verdict.REJECT
    assert apply_approval(PROMOTE, timed_out, policy(on_timeout="pending")).verdict is Verdict.NEEDS_APPROVAL
    nobody = ApprovalRecord(kind=RequestKind.CONFIRM, requests=3, ignored=("mallory is not on the approvers list",))
    rejected_for_nobody = apply_approval(PROMOTE, nobody, p)
    assert rejected_for_nobody.verdict is Verdict.REJECT and "mallory" in rejected_for_nobody.reasons[0]


def test_approval_policy_needs_approvers_unless_never():
    base = {"model_name": "m", "eval_data": {"path": "e.csv", "target": "y"}}
    with pytest.raises(PolicyError, match="approval: approval mode 'always' needs at least one name"):
        parse_policy({**base, "approval": {"mode": "always"}})
    with pytest.raises(PolicyError, match="approval.timeout_s"):
        parse_policy({**base, "approval": {"mode": "always", "approvers": ["a"], "timeout_s": 0}})
    with pytest.raises(PolicyError, match="approval.on_timeout"):
        parse_policy({**base, "approval": {"mode": "always", "approvers": ["a"], "on_timeout": "promote"}})
    assert parse_policy(base).approval.mode == "never"


T0 = datetime(2026, 1, 1, tzinfo=UTC)


def move(hours: int, prior: str | None, after: str, outcome: str = "promoted") -> ChampionMove:
    return ChampionMove(T0 + timedelta(hours=hours), prior, after, outcome, f"run{hours}")


MOVES = [move(1, None, "1"), move(2, "1", "4"), move(3, "4", "6"), move(4, "6", "4", "rolled_back")]


def test_champion_at_each_moment():
    assert champion_at(MOVES, T0) is None
    assert champion_at(MOVES, T0 + timedelta(hours=1)).after == "1"  # inclusive
    assert champion_at(MOVES, T0 + timedelta(hours=2, minutes=30)).after == "4"
    assert champion_at(MOVES, T0 + timedelta(hours=3, minutes=1)).after == "6"
    assert champion_at(MOVES, T0 + timedelta(days=9)).after == "4"
    assert ever_champion(MOVES) == {"1", "4", "6"}


@dataclass(frozen=True)
class Entry:
    time: datetime
    prior_champion: str | None
    champion_after: str | None
    outcome: str
    run_id: str
    counts: bool = True


def test_only_counting_entries_that_moved_the_alias_are_history():
    entries = [
        Entry(T0 + timedelta(hours=3), "1", "2", "promoted", "b"),
        Entry(T0 + timedelta(hours=1), None, "1", "promoted", "a"),
        Entry(T0 + timedelta(hours=2), "1", "1", "rejected", "r"),
        Entry(T0 + timedelta(hours=4), "2", "3", "promoted", "failed", counts=False),  # a FAILED attempt
        Entry(T0 + timedelta(hours=5), "2", "2", "stale", "s"),
    ]
    assert [m.ledger_run_id for m in champion_moves(entries)] == ["a", "b"]


def test_rollback_target_with_no_to_walks_one_step_further_back_each_time():
    chain = [move(1, None, "1"), move(2, "1", "2"), move(3, "2", "3")]
    assert rollback_target(chain, "3", None) == "2"
    chain.append(move(4, "3", "2", "rolled_back"))
    assert rollback_target(chain, "2", None) == "1"
    chain.append(move(5, "2", "1", "rolled_back"))
    with pytest.raises(BadInputError, match=r"no earlier champion .* before version 1 \(rolled back, .*v2, v3\)"):
        rollback_target(chain, "1", None)


def test_a_rolled_back_version_is_never_a_target_again():
    two = [move(1, None, "1"), move(2, "1", "2"), move(3, "2", "1", "rolled_back")]  # v2 promoted, rolled back
    with pytest.raises(BadInputError, match="no earlier champion to roll back to"):
        rollback_target(two, "1", None)  # not back to v2: no ping-pong
    with pytest.raises(BadInputError, match=r"version 2 was rolled back \(ledger run run3\).*--force and --reason"):
        rollback_target(two, "1", "2")
    # promoted again (with --force --reason), then a new champion: v2 is a target again
    again = [*two, move(4, "1", "2"), move(5, "2", "3")]
    assert rollback_target(again, "3", None) == "2"
    assert champion_chain(again).chain == ("1", "2", "3") and champion_chain(again).rolled_back == {}


def test_rollback_to_an_earlier_champion_skips_the_ones_between():
    chain = [move(1, None, "1"), move(2, "1", "2"), move(3, "2", "3"), move(4, "3", "1", "rolled_back")]
    history = champion_chain(chain)
    assert history.chain == ("1",) and history.rolled_back == {"3": "run4"}
    with pytest.raises(BadInputError, match="no earlier champion"):
        rollback_target(chain, "1", None)
    assert rollback_target(chain, "1", "2") == "2"  # v2 was champion and was not rolled back: --to still works


def test_moves_made_outside_modelgate_are_champion_moves():
    flagged = [move(1, None, "1"), move(2, "1", "5", "external_change"), move(3, "5", "6")]
    assert rollback_target(flagged, "6", None) == "5"
    reverted = [move(1, None, "1"), move(2, "1", "1", "external_change"), move(3, "1", "6")]
    assert champion_chain(reverted).chain == ("1", "6")
    back = [move(1, None, "1"), move(2, "1", "6"), move(3, "6", "1", "external_change")]  # moved back by hand
    with pytest.raises(BadInputError, match="no earlier champion"):
        rollback_target(back, "1", None)
    first = [move(1, None, "4", "external_change")]  # the alias was set before modelgate recorded anything
    with pytest.raises(BadInputError, match="none before version 4"):
        rollback_target(first, "4", None)


def test_rollback_target_bad_input():
    assert rollback_target(MOVES, "4", "1") == "1"
    with pytest.raises(BadInputError, match="never champion"):
        rollback_target(MOVES, "4", "3")
    with pytest.raises(BadInputError, match="already the champion"):
        rollback_target(MOVES, "4", "4")
    with pytest.raises(BadInputError, match="no champion to roll back"):
        rollback_target(MOVES, None, None)
    with pytest.raises(BadInputError, match="does not record version 9 as champion"):
        rollback_target(MOVES, "9", None)


def test_parse_time():
    assert parse_time("2026-01-01T10:00:00Z") == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert parse_time("2026-01-01 10:00") == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert parse_time("2026-01-01T11:00:00+01:00") == datetime(2026, 1, 1, 10, tzinfo=UTC)
    with pytest.raises(BadInputError, match="not ISO 8601"):
        parse_time("last tuesday")
