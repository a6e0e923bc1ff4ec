"""The scan's reads in a few batched registry and ledger searches instead of several calls per model.

Every version of the models to scan is listed in the background (VersionPrefetch) while their policies are parsed.
Then, for those models together: the ledger's unfinished attempts, its latest champion move per model (newest first,
stopping once every model has one), then the registered models (champion alias, creation time). A model with no
unfinished attempt whose champion alias is where the ledger's latest move since the model's creation left it needs
no reconcile (reconcile would write nothing): its undecided versions come from these reads, without taking its
promotion lock. Any other model is reconciled under its lock and searched on its own, as before. The ledger is read
before the aliases, as a promotion or rollback writes its ledger entry before it moves the alias: one seen half-done
sends its model to the locked path.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Run

from gates.champion_history import MOVES
from gates.policy import PromotionPolicy
from tasks import ledger
from tasks.mlflow_store import quoted as quoted  # model names in search filters
from tasks.retrying import retried
from tasks.version_rows import VersionRow, search_rows

VERSIONS_PAGE = 10_000  # model versions per search page (the server allows 200,000)
RUNS_PAGE = 1000  # ledger runs per search page (the server allows 50,000)
MOVES_PAGE = 100  # ledger runs per page while looking for each model's latest move (a run with its evidence is big)
MODELS_PAGE = 1000  # registered models per search page (the server's maximum)
NAMES_PER_SEARCH = 25  # model names in one `name IN (...)` filter
THREADS = 3  # version searches in flight: the server builds one page while this process reads another
NOT_AGAIN = (*ledger.FINAL_OUTCOMES, "rolled_back")  # version outcomes the scan never promotes (again)
AGREE = "registry and ledger agree"


@dataclass(frozen=True)
class ModelReads:
    """One model as the batched reads found it."""

    undecided: list[str] | None  # None: reconcile has work to do (or could not be ruled out)
    reason: str  # why the model must be reconciled under its lock, or AGREE


def undecided_in(versions: Iterable[VersionRow], champion: str | None) -> list[str]:
    """READY versions that are not the champion, have no final decision and were not rolled back, by number."""
    undecided = {
        str(mv.version)
        for mv in versions
        if str(mv.status) == "READY"
        and str(mv.version) != champion
        and (mv.tags or {}).get(ledger.TAG + "outcome") not in NOT_AGAIN
    }
    return sorted(undecided, key=int)


class VersionPrefetch:
    """Every version of the models the scan will likely read, listed in the background (THREADS searches in flight)
    while the policies are parsed; `versions` waits for them and lists the models it did not guess."""

    def __init__(self, c: MlflowClient, guesses: Iterable[str]) -> None:
        self._c = c
        self._guessed = {n for n in guesses if _searchable(n)}
        self._pool = ThreadPoolExecutor(THREADS)
        self._pages = [self._pool.submit(_versions, c, chunk) for chunk in _chunks(self._guessed)]

    def versions(self, names: Iterable[str]) -> dict[str, list[VersionRow]]:
        """Model -> its versions, for these names."""
        wanted = set(names)
        later = [self._pool.submit(_versions, self._c, chunk) for chunk in _chunks(wanted - self._guessed)]
        found: dict[str, list[VersionRow]] = defaultdict(list)
        for page in [*self._pages, *later]:
            for mv in page.result():
                if mv.name in wanted:
                    found[mv.name].append(mv)
        return found

    def close(self) -> None:
        """Stop listing (a search under way still ends on its own)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True)
class LedgerState:
    """Per ledger experiment, model -> its unfinished attempts and its latest champion move."""

    unfinished: dict[str, dict[str, int]]
    moves: dict[str, dict[str, ledger.LedgerEntry]]


def ledger_state(c: MlflowClient, policies: Iterable[PromotionPolicy]) -> LedgerState:
    """The ledger reads for these policies' models (to be made before their aliases are read)."""
    experiments: dict[str, set[str]] = defaultdict(set)
    for policy in policies:
        experiments[policy.ledger_experiment].add(policy.model_name)
    unfinished = {exp: _unfinished(c, exp) for exp in experiments}
    return LedgerState(unfinished, {exp: _latest_moves(c, exp, models) for exp, models in experiments.items()})


def registered_models(c: MlflowClient, names: Iterable[str] | None) -> dict[str, Any]:
    """Name -> registered model (aliases, creation time): every one, or those of `names` that exist."""
    filters = [None] if names is None else [_named(chunk) for chunk in _chunks(n for n in names if _searchable(n))]
    found: dict[str, Any] = {}
    for where in filters:
        token = None
        while True:
            page = retried(c.search_registered_models, where, max_results=MODELS_PAGE, page_token=token)
            found.update({m.name: m for m in page})
            token = page.token
            if not token:
                break
    return found


def model_reads(
    policies: dict[str, PromotionPolicy],
    state: LedgerState,
    registered: dict[str, Any],
    versions: dict[str, list[VersionRow]],
) -> dict[str, ModelReads]:
    """Model -> its undecided versions, or why it must be reconciled under its lock first."""
    found = {}
    for name, policy in policies.items():
        exp = policy.ledger_experiment
        model = registered.get(name)
        reason = _to_reconcile(model, policy, state.unfinished[exp].get(name, 0), state.moves[exp].get(name))
        if reason:
            found[name] = ModelReads(None, reason)
        else:
            found[name] = ModelReads(undecided_in(versions.get(name, []), _champion(model, policy)), AGREE)
    return found


def _searchable(name: str) -> bool:
    return "'" not in name or '"' not in name


def _chunks(names: Iterable[str]) -> list[list[str]]:
    ordered = sorted(set(names))
    return [ordered[i : i + NAMES_PER_SEARCH] for i in range(0, len(ordered), NAMES_PER_SEARCH)]


def _named(names: list[str]) -> str:
    return f"name IN ({', '.join(quoted(n) for n in names)})"


def _to_reconcile(model: Any, policy: PromotionPolicy, unfinished: int, move: ledger.LedgerEntry | None) -> str:
    """Why reconcile would find work ("" when it would not): the model missing, an unfinished attempt, or the
    champion alias not where the ledger's latest move since the model's creation left it."""
    if model is None:
        return "not found by the registry search"
    if unfinished:
        return f"{unfinished} unfinished attempt(s) in the ledger"
    since = datetime.fromtimestamp(int(model.creation_timestamp) / 1000, tz=UTC)
    of_record = move.champion_after if move is not None and move.time >= since else None
    now = _champion(model, policy)
    if now != of_record:
        return f"champion alias on {now or 'no version'}, the ledger's champion is {of_record or 'none'}"
    return ""


def _champion(model: Any, policy: PromotionPolicy) -> str | None:
    """The version holding the policy's champion alias, from the registered model."""
    version = (model.aliases or {}).get(policy.champion_alias)
    return None if version is None else str(version)


def _versions(c: MlflowClient, names: list[str]) -> list[VersionRow]:
    """Every version of these models, paged, in a stable order."""
    found: list[VersionRow] = []
    token = None
    while True:
        page, token = search_rows(c, _named(names), ["name ASC", "version_number ASC"], VERSIONS_PAGE, token)
        found.extend(page)
        if not token:
            return found


def _unfinished(c: MlflowClient, experiment: str) -> dict[str, int]:
    """Model -> how many of its ledger entries are still RUNNING (ledger.unfinished)."""
    counts: dict[str, int] = defaultdict(int)
    for run in _runs(c, experiment, "attributes.status = 'RUNNING'", "ASC", RUNS_PAGE):
        counts[run.data.tags.get(ledger.TAG + "model", "")] += 1
    return counts


def _latest_moves(c: MlflowClient, experiment: str, models: set[str]) -> dict[str, ledger.LedgerEntry]:
    """Model -> its latest champion move that counts (a promotion, rollback or recorded outside move), read newest
    first until every one of `models` has one (to the end when some never had one)."""
    latest: dict[str, ledger.LedgerEntry] = {}
    where = f"tags.`{ledger.TAG}outcome` != 'rejected' and attributes.status = 'FINISHED'"  # every move, few others
    for run in _runs(c, experiment, where, "DESC", MOVES_PAGE):
        entry = ledger.entry_of(run)
        if entry.counts and entry.outcome in MOVES and entry.model not in latest:
            latest[entry.model] = entry
            if models <= latest.keys():
                break
    return latest


def _runs(c: MlflowClient, experiment: str, where: str, order: str, page_size: int) -> Iterator[Run]:
    """The ledger runs matching `where` by start time, a page at a time (none when the experiment does not exist)."""
    exp = retried(c.get_experiment_by_name, experiment)
    if exp is None:
        return
    token = None
    while True:
        page = retried(
            c.search_runs,
            [exp.experiment_id],
            filter_string=where,
            order_by=[f"attributes.start_time {order}"],
            max_results=page_size,
            page_token=token,
        )
        yield from page
        token = page.token
        if not token:
            return
