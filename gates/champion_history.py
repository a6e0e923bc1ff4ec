"""Which version was champion when, from the ledger's champion moves, and where a rollback goes. Pure.

A rollback walks back through the champion chain: the versions that held the alias, in order of
succession, the current champion last. A promotion or a move made outside modelgate puts its version on
top (a promoted version already in the chain moves to the top; a move outside modelgate back to a version
in the chain drops the ones above it, as a rollback would). A rollback removes the current champion from
the chain and marks it rolled back, and drops every version above its target. So successive rollbacks go
one step further back each time, and a rolled-back version is never a rollback target again until it is
promoted again (`promote --force --reason`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from gates.errors import BadInputError

MOVES = ("promoted", "rolled_back", "external_change")  # the ledger outcomes that move the champion alias


@dataclass(frozen=True)
class ChampionMove:
    """One recorded move of the champion alias."""

    time: datetime
    prior: str | None
    after: str | None
    outcome: str
    ledger_run_id: str


class LedgerRecord(Protocol):
    """What a ledger entry offers here (tasks.ledger.LedgerEntry has it)."""

    time: datetime
    prior_champion: str | None
    champion_after: str | None
    outcome: str
    run_id: str

    @property
    def counts(self) -> bool: ...


@dataclass(frozen=True)
class ChampionChain:
    """The champion history as a rollback sees it."""

    chain: tuple[str, ...]  # champions in order of succession, the current one last, each once
    rolled_back: dict[str, str]  # version -> ledger run of the rollback that removed it (not promoted since)
    ever: frozenset[str]  # every version the ledger shows holding the alias


def champion_moves(entries: Sequence[LedgerRecord]) -> list[ChampionMove]:
    """The alias moves among the entries that count (promotions, rollbacks, outside moves), oldest first."""
    moves = [
        ChampionMove(e.time, e.prior_champion, e.champion_after, e.outcome, e.run_id)
        for e in entries
        if e.counts and e.outcome in MOVES
    ]
    return sorted(moves, key=lambda m: m.time)


def champion_of_record(entries: Sequence[LedgerRecord]) -> str | None:
    """The champion the recorded moves leave in place (None when no move is recorded)."""
    moves = champion_moves(entries)
    return moves[-1].after if moves else None


def champion_at(moves: Sequence[ChampionMove], when: datetime) -> ChampionMove | None:
    """The move that made the champion holding the alias at `when` (None: no recorded champion yet)."""
    before = [m for m in moves if m.time <= when]
    return before[-1] if before else None


def ever_champion(moves: Sequence[ChampionMove]) -> set[str]:
    """Every version the ledger shows holding the alias (including champions a move replaced)."""
    return {v for m in moves for v in (m.prior, m.after) if v}


def champion_chain(moves: Sequence[ChampionMove]) -> ChampionChain:
    """Walk the moves (oldest first) into the chain of champions and the versions rolled back."""
    chain: list[str] = []
    rolled_back: dict[str, str] = {}
    for m in sorted(moves, key=lambda m: m.time):
        if not chain and m.prior:
            chain.append(m.prior)  # the first recorded move replaced a champion the ledger did not record
        if m.outcome == "rolled_back" and m.prior:
            rolled_back[m.prior] = m.ledger_run_id
            chain = [v for v in chain if v != m.prior]
        if m.after is None or (chain and chain[-1] == m.after):
            continue  # alias removed, or a move undone at once (an outside move that was reverted)
        if m.after in chain and m.outcome != "promoted":
            chain = chain[: chain.index(m.after) + 1]  # moved back to an earlier champion
        else:
            chain = [v for v in chain if v != m.after] + [m.after]
        rolled_back.pop(m.after, None)
    return ChampionChain(tuple(chain), rolled_back, frozenset(ever_champion(moves)))


def rollback_target(moves: Sequence[ChampionMove], current: str | None, requested: str | None) -> str:
    """The version to restore: `requested` (it must have been champion and not been rolled back since),
    else the champion before the current one in the chain."""
    if current is None:
        raise BadInputError("the model has no champion to roll back")
    history = champion_chain(moves)
    if requested is not None:
        return _requested_target(history, current, str(requested).strip())
    if current not in history.chain:
        raise BadInputError(
            f"the ledger does not record version {current} as champion; run `modelgate reconcile` first"
        )
    below = history.chain[: history.chain.index(current)]
    if not below:
        gone = sorted(history.rolled_back, key=_version_order)
        note = f" (rolled back, never a rollback target: {', '.join('v' + v for v in gone)})" if gone else ""
        raise BadInputError(
            f"no earlier champion to roll back to: the ledger records none before version {current}{note}"
        )
    return below[-1]


def _requested_target(history: ChampionChain, current: str, requested: str) -> str:
    if requested == current:
        raise BadInputError(f"version {requested} is already the champion")
    if requested in history.rolled_back:
        raise BadInputError(
            f"version {requested} was rolled back (ledger run {history.rolled_back[requested]}) and is not a "
            "rollback target; to make it champion again, promote it with --force and --reason"
        )
    if requested not in history.ever:
        raise BadInputError(f"version {requested} was never champion according to the ledger; cannot roll back to it")
    return requested


def _version_order(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (0, version)


def parse_time(text: str) -> datetime:
    """ISO 8601 (a naive time is UTC) or 'now'; BadInputError otherwise."""
    raw = text.strip()
    if raw.lower() == "now":
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
    except ValueError:
        raise BadInputError(f"time {text!r} is not ISO 8601 (e.g. 2026-11-24T09:30:00Z)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
