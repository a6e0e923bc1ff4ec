"""Which version was champion when, from the ledger's alias moves; the rollback target. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from gates.errors import BadInputError

MOVES = ("promoted", "rolled_back", "external_change")


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


def champion_moves(entries: Sequence[LedgerRecord]) -> list[ChampionMove]:
    """The alias moves among ledger entries (promotions and rollbacks), oldest first."""
    moves = [
        ChampionMove(e.time, e.prior_champion, e.champion_after, e.outcome, e.run_id)
        for e in entries
        if e.outcome in MOVES
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


def rollback_target(moves: Sequence[ChampionMove], current: str | None, requested: str | None) -> str:
    """The version to restore: `requested` if it was champion before, else the one the current champion replaced."""
    if current is None:
        raise BadInputError("the model has no champion to roll back")
    if requested is not None:
        requested = str(requested).strip()
        if requested == current:
            raise BadInputError(f"version {requested} is already the champion")
        if requested not in ever_champion(moves):
            raise BadInputError(
                f"version {requested} was never champion according to the ledger; cannot roll back to it"
            )
        return requested
    installed = [m for m in moves if m.after == current]
    if not installed or installed[-1].prior is None:
        raise BadInputError(f"the ledger records no champion before version {current}; name one with --to")
    return installed[-1].prior


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
