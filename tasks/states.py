"""The Prefect state a flow run ends in, from the outcome table (gates.outcome.OUTCOME_TABLE)."""

from __future__ import annotations

from typing import Any

from prefect.states import Cancelled, Completed, Failed, State

from gates.outcome import ROWS

FACTORIES = {"COMPLETED": Completed, "FAILED": Failed, "CANCELLED": Cancelled}


def state_for(key: str, data: Any, message: str) -> State:
    """A final state named and typed as the outcome table says, carrying `data` as its result."""
    row = ROWS[key]
    return FACTORIES[row.state_type or "COMPLETED"](data=data, name=row.state_name, message=message[:500])


def final_state(outcome: Any) -> State:
    """The state a promotion run ends in (a dry run is DryRun, Completed, whatever it would decide)."""
    return state_for(outcome.outcome.value, outcome, outcome.message)
