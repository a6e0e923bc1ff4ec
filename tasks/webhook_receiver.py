"""`modelgate receiver`: an ASGI app (Starlette, served by uvicorn) that takes MLflow's registry webhooks and
emits Prefect events the deployments' triggers act on: a created version starts its promotion, a champion
move starts `reconcile` for that model.

POST /mlflow?model=<model>  a delivery. 401: unsigned, wrongly signed, stale (outside the window) or for a
                            model without an installed secret; 409: a delivery id seen before; 503: Prefect's
                            events client refused the event (MLflow retries); 200 otherwise (handed to the
                            events client, or ignored with a log line: no policy, another alias). Nothing is
                            emitted for a refused delivery, and each refusal is counted in the log. The
                            client sends in the background: a Prefect server lost after start-up loses
                            events until the scan finds their versions.
GET  /health                the counts so far.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gates.errors import BadInputError, PolicyError
from gates.webhook_events import DELIVERY_HEADER, RegistryEvent, prefect_event, unsigned_problem
from tasks.policy_files import default_policy_path, policy_for
from tasks.webhooks import read_secrets

LOG = logging.getLogger("modelgate.receiver")
Emit = Callable[[RegistryEvent], object]


def emit_to_prefect(event: RegistryEvent) -> object:
    """Send the event to the Prefect server in PREFECT_API_URL."""
    from prefect.events import emit_event

    return emit_event(event=event.event, resource=event.resource, payload=event.payload)


class Receiver:
    """Verifies deliveries, drops replays, and emits one Prefect event per accepted registry change."""

    def __init__(self, policy_dir: str | Path, window_s: float = 300.0, emit: Emit = emit_to_prefect) -> None:
        self.policy_dir, self.window_s, self.emit = Path(policy_dir), window_s, emit
        self.seen: OrderedDict[str, float] = OrderedDict()
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.app = Starlette(
            routes=[Route("/mlflow", self.deliver, methods=["POST"]), Route("/health", self.health, methods=["GET"])]
        )

    def _answer(self, status: int, outcome: str, text: str) -> JSONResponse:
        with self.lock:
            self.counts[outcome] += 1
            counts = dict(sorted(self.counts.items()))
        log = LOG.warning if status >= 400 else LOG.info
        log("%s (%d): %s %s", outcome, status, text, counts)
        return JSONResponse({outcome: text}, status_code=status)

    def _first_time(self, delivery: str, now: float) -> bool:
        with self.lock:
            while self.seen and next(iter(self.seen.values())) < now - 2 * self.window_s:
                self.seen.popitem(last=False)  # older than any timestamp the window still accepts
            if delivery in self.seen:
                return False
            self.seen[delivery] = now
            return True

    async def deliver(self, request: Request) -> JSONResponse:
        model = request.query_params.get("model", "")
        body = (await request.body()).decode("utf-8", "replace")
        headers = {k.lower(): v for k, v in request.headers.items()}
        secret = read_secrets().get(model)
        if secret is None:
            return self._answer(401, "refused", f"no webhook secret installed for model {model!r}")
        now = time.time()
        problem = unsigned_problem(secret, headers, body, now, self.window_s)
        if problem is not None:
            return self._answer(401, "refused", f"{model}: {problem}")
        delivery = headers[DELIVERY_HEADER.lower()]
        if not self._first_time(delivery, now):
            return self._answer(409, "replayed", f"{model}: delivery {delivery} was received before")
        try:
            policy = policy_for(default_policy_path(model, self.policy_dir), model)
        except (PolicyError, BadInputError) as exc:
            return self._answer(200, "ignored", f"{model}: no usable policy ({exc})")
        event = prefect_event(body, policy.champion_alias)
        if event is None or event.resource.get("modelgate.model") != model:
            return self._answer(200, "ignored", f"{model}: not a new version or a move of {policy.champion_alias!r}")
        try:
            sent, why = self.emit(event), "the events client returned nothing"
        except Exception as exc:  # the delivery is answered, never dropped: MLflow retries it
            sent, why = None, f"{type(exc).__name__}: {exc}"
        if sent is None:
            with self.lock:
                self.seen.pop(delivery, None)  # a retry of this delivery is not a replay
            return self._answer(503, "failed", f"{event.event} not emitted ({why})")
        return self._answer(200, "emitted", f"{event.event} {event.resource['prefect.resource.id']}")

    async def health(self, request: Request) -> JSONResponse:
        with self.lock:
            return JSONResponse({"ok": True, "counts": dict(self.counts)})


def serve(host: str, port: int, policy_dir: str, window_s: float) -> None:
    """Run the receiver with uvicorn until interrupted; BadInputError without a Prefect server to emit to."""
    import uvicorn

    if window_s <= 0:
        raise BadInputError(f"--window must be positive, not {window_s:g}")
    if not Path(policy_dir).is_dir():
        raise BadInputError(f"policy directory not found: {policy_dir}")
    api = os.environ.get("PREFECT_API_URL", "").rstrip("/")
    if not api:
        raise BadInputError("the receiver needs PREFECT_API_URL: the Prefect server whose triggers act on its events")
    try:
        httpx.get(f"{api}/health", timeout=10).raise_for_status()
    except httpx.HTTPError as exc:
        raise BadInputError(f"no Prefect server answers at {api}: {type(exc).__name__}") from None

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    uvicorn.run(Receiver(policy_dir, window_s).app, host=host, port=port, log_level="warning")
