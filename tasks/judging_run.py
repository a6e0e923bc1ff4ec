"""One attempt's judging side: a judge process per model, started early, scoring both models side by side."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from gates.context import ModelScores
from gates.result import GateResult, GateStatus
from tasks.inputs import PromotionInputs
from tasks.judging import Judge, JudgingSide, Reply, first_answer
from tasks.model_copies import ModelCopy

ISOLATION = "isolation"


def usable_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class JudgingRun:
    """Judges for the candidate and the champion of one attempt; every process is stopped on close()."""

    def __init__(self, inputs: PromotionInputs, out_dir: Path, every_row: bool | None = None) -> None:
        """`every_row`: score every row of streamed data (default: whenever the data was streamed)."""
        self.inputs = inputs
        self.every_row = inputs.data.full is not None if every_row is None else every_row
        self.out_dir = out_dir
        self.side = JudgingSide()
        self.copies: dict[str, ModelCopy] = {"candidate": inputs.candidate}
        if inputs.champion is not None:
            self.copies["champion"] = inputs.champion
        self.judges: dict[str, Judge] = {}
        self.attempts: dict[str, list[str]] = {label: [] for label in self.copies}
        self._loading: set[str] = set()
        self._scoring: tuple[dict[str, Reply | None], set[str]] | None = None  # (load replies, scores requested)
        self._waited = 0.0  # seconds of the scoring timeout spent waiting before score_all()
        self._sample_pending: set[str] = set()
        self._sample: dict[str, ModelScores] = {}

    def judge(self, label: str) -> Judge:
        """The judge of 'candidate' or 'champion', set up on first use."""
        if label not in self.judges:
            copy = self.copies[label]
            policy = self.inputs.policy
            names = copy.schema.names
            frame = self.inputs.data.frame[[c for c in names if c in self.inputs.data.frame.columns]]
            reference = self.inputs.reference
            ref_frame = None if reference is None else reference.frame[[c for c in names if c in reference.frame]]
            config: dict[str, Any] = {
                "schema": copy.schema.to_dict(),
                "model_output": policy.model_output.model_dump(),
                "positive_label": policy.eval_data.positive_label,
                "task": self.inputs.task.name,
                "classes": list(self.inputs.task.classes) if self.inputs.task.name == "multiclass" else [],
                "version": copy.version,
            }
            self.judges[label] = self.side.add(label, copy.local_dir, frame, ref_frame, config)
        return self.judges[label]

    def start_loading(self) -> None:
        """Start each model's process and its load now, so loading overlaps the data gates."""
        for label in self.copies:
            if label not in self._loading:
                self._send(label, "load")
                self._loading.add(label)

    def _send(self, label: str, op: str, args: dict[str, Any] | None = None) -> Reply | None:
        return self.judge(label).send(op, **(args or {}))

    def note(self, label: str, reply: Reply) -> Reply:
        """Record the reply's access attempts; returns the reply."""
        self.attempts[label].extend(reply.access_attempts)
        return reply

    def call(self, label: str, op: str, timeout: float, **args: Any) -> Reply:
        """One request to one model's judge, with its access attempts recorded."""
        self._finish_loading(label, timeout)
        return self.note(label, self.judge(label).call(op, timeout, **args))

    def _finish_loading(self, label: str, timeout: float) -> Reply | None:
        if label not in self._loading:
            return None
        self._loading.discard(label)
        reply = self.note(label, self.judge(label).receive(timeout))
        if reply.ok:
            self.judge(label).config["load_args"] = {}
        return reply

    def start_scoring(self, timeout: float) -> None:
        """Load (if not started yet) and send every model its score request; the judges score side by side while
        the acting side goes on (the data gates), and score_all() collects the answers."""
        if self._scoring is not None:
            return
        self.start_loading()
        loads = {label: self._finish_loading(label, timeout) for label in self.copies}
        pending = set()
        for label in self.copies:
            load = loads[label]
            if load is not None and not load.ok:
                continue
            failed = None
            if self._streaming:  # the sample first (a fraction of the time): its reports need not wait for the rest
                batch_rows = self.inputs.policy.eval_data.streaming.batch_rows
                failed = self._send(label, "score", {"prefix": "sample_", "batch_rows": batch_rows})
            failed = failed or self._send(label, *self._score_request(label))
            if failed is None:
                pending.add(label)
            else:
                loads[label] = self.note(label, failed)
        self._scoring = (loads, pending)
        self._sample_pending = set(pending) if self._streaming else set()

    @property
    def _streaming(self) -> bool:
        return self.inputs.data.full is not None and self.every_row

    def sample_scores(self, timeout: float) -> dict[str, ModelScores]:
        """Streamed data: each model's scores on the sample, which it answers before scoring every row (the
        models scoring every row meanwhile); counted against the scoring timeout. Empty when not streamed."""
        if self._scoring is None or not self._streaming:
            return {}
        loads, pending = self._scoring
        for label in sorted(self._sample_pending):
            self._sample_pending.discard(label)
            start = time.monotonic()
            reply = self.note(label, self.judge(label).receive(max(timeout - self._waited, 1.0)))
            self._waited += time.monotonic() - start
            if not reply.ok:  # the process died, hung or failed: that is its scoring's answer too
                self.judge(label).stop()  # nothing is left to read from it
                loads[label] = reply
                pending.discard(label)
            self._sample[label] = self._scores(label, self.copies[label], reply, timeout)
        return dict(self._sample)

    def wait_for_first(self, timeout: float) -> None:
        """On a machine with no more cores than models being scored, wait until one has answered (at most
        `timeout` s, counted against the scoring timeout): the acting side's own work (the data gates) waits for
        it, since three busy processes on two cores give the slowest model two thirds of a core, then leave a core
        idle once the others are done."""
        if self._scoring is None or usable_cores() > len(self._scoring[1]):
            return
        self.sample_scores(timeout)  # their replies come first
        pending = [self.judges[label] for label in self._scoring[1]]
        self._waited += first_answer(pending, max(timeout - self._waited, 0.0))

    def score_all(self, timeout: float) -> dict[str, ModelScores]:
        """Load and score every model (started by start_scoring() or now); the two processes work side by side."""
        self.start_scoring(timeout)
        self.sample_scores(timeout)
        assert self._scoring is not None
        loads, pending = self._scoring
        remaining = max(timeout - self._waited, 1.0)  # wait_for_first's wait counts against the scoring timeout
        out: dict[str, ModelScores] = {}
        for label, copy in self.copies.items():
            if label in pending:
                reply = self.note(label, self.judge(label).receive(remaining))
            else:
                reply = loads[label]  # type: ignore[assignment]
            out[label] = self._scores(label, copy, reply, timeout)
        return out

    def _score_request(self, label: str) -> tuple[str, dict[str, Any]]:
        """Score the sample the judge holds, or, for streamed data, every row of the files batch by batch."""
        full = self.inputs.data.full
        if full is None or not self.every_row:
            return "score", {}
        names = [c for c in self.copies[label].schema.names if c in self.inputs.data.frame.columns]
        batch_rows = self.inputs.policy.eval_data.streaming.batch_rows
        return "score_stream", {
            "files": list(full.files),
            "rows": full.rows,
            "columns": names,
            "batch_rows": batch_rows,
            "served_rows": self.judge(label).put_array("served_rows.npy", full.sample_index),
        }

    def _scores(self, label: str, copy: ModelCopy, reply: Reply, timeout: float) -> ModelScores:
        attempts = tuple(self.attempts[label])
        if not reply.ok:
            reason = reply.problem(timeout)
            if not reply.timed_out:
                reason = f"could not be loaded or scored: {reason}"
            else:
                reason = f"loading or scoring {reason}"
            return ModelScores(copy.version, None, error=reason, timed_out=reply.timed_out, access_attempts=attempts)
        data = reply.data
        if data.get("error"):
            if data.get("bad_input"):
                return ModelScores(copy.version, None, error=data["error"], bad_input=True, access_attempts=attempts)
            return ModelScores(
                copy.version, None, error=f"raised at predict time: {data['error']}", access_attempts=attempts
            )
        judge = self.judge(label)
        # A restarted process (after a timeout) must score the same way without predicting first.
        judge.config["load_args"] = {"scores_from": "predict_proba"} if "predict_proba" in data["source"] else {}
        return ModelScores(
            version=copy.version,
            values=np.asarray(judge.array(data["scores"]), dtype=np.float64),
            # streamed data: predict() as served comes on the sample's rows only (tasks.streamed_context)
            served=judge.array(data["served_scores"]),
            source=data["source"],
            seconds=float(data["seconds"]),
            access_attempts=attempts,
        )

    def isolation_results(self) -> list[GateResult]:
        """A candidate whose code tried to reach the registry is rejected; a champion that did is a warning.

        The judges are stopped first, so an attempt made after a model's last reply (a thread) counts too."""
        for label, judge in self.judges.items():
            judge.stop()
            self.attempts[label].extend(judge.new_attempts())
        out = []
        for label, found in self.attempts.items():
            if not found:
                continue
            version = self.copies[label].version
            first = found[0]
            candidate = label == "candidate"
            out.append(
                GateResult(
                    gate=ISOLATION,
                    status=GateStatus.FAILED if candidate else GateStatus.WARNED,
                    blocking=candidate,
                    summary=f"the {label} v{version}'s code tried to reach the model registry while being judged "
                    f"({len(found)} attempt(s), first: {first}); it was refused",
                    details={"attempts": found, "model": label, "version": version},
                )
            )
        return out

    def close(self) -> None:
        """Stop every judging process and remove its work folder."""
        self.side.close()
