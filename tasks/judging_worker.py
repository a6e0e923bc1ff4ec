"""The judging side: one child process per model, `python -m tasks.judging_worker WORK_DIR`.

It loads the model from a local copy of its artifacts and answers requests (one JSON object per line
on stdin) with plain data: a JSON line on the file descriptor in $MODELGATE_REPLY_FD, arrays as .npy
files in WORK_DIR. Its environment has no tracking URI and no credentials (see tasks.judging); model
code may print freely, since stdout and stderr go to a log file. Never imports prefect.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gates.model_input import InputSchema, prepare
from gates.policy import ModelOutputSpec
from gates.scores import TaskMismatch, task_scores
from tasks.free_memory import release_free_memory


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:400] if text else ''}".rstrip(": ")


class ModelHost:
    """One loaded model and the eval rows it is judged on."""

    def __init__(self, work_dir: Path, config: dict[str, Any]) -> None:
        self.work = work_dir
        self.config = config
        self.schema = InputSchema.from_dict(config["schema"])
        self.spec = ModelOutputSpec.model_validate(config["model_output"])
        self.positive_label = config["positive_label"]
        self.task = str(config.get("task", "binary"))
        self.classes = tuple(config.get("classes") or ())
        self.model: Any = None
        self.proba: Any = None
        self.proba_index: Any = 0
        self.score_source = "predict()"
        self._frame: pd.DataFrame | None = None
        self._reference: pd.DataFrame | None = None

    @property
    def frame(self) -> pd.DataFrame:
        """The eval rows (the model's input columns only)."""
        if self._frame is None:
            self._frame = pd.read_parquet(self.work / "eval.parquet")
        return self._frame

    @property
    def reference(self) -> pd.DataFrame:
        """The reference rows (the eval rows when the policy names none)."""
        if self._reference is None:
            path = self.work / "reference.parquet"
            self._reference = pd.read_parquet(path) if path.is_file() else self.frame
        return self._reference

    def load(self, scores_from: str | None = None) -> dict[str, Any]:
        """Load the local copy; `scores_from='predict_proba'` restores an earlier choice of score source."""
        import mlflow.pyfunc

        start = time.perf_counter()
        self.model = mlflow.pyfunc.load_model(self.config["model_dir"])
        if scores_from == "predict_proba":
            self._choose_source(None, forced=True)
        return {"seconds": time.perf_counter() - start, "flavors": sorted(self.model.metadata.flavors)}

    def predict(self, frame: pd.DataFrame) -> Any:
        """predict() on the input path's rendering of these rows."""
        return self.model.predict(prepare(frame, self.schema))

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        """What the gates judge (gates.scores.task_scores; predict_proba when that is the score source)."""
        if self.proba is not None:
            proba = np.asarray(self.proba(prepare(frame, self.schema)), dtype=np.float64)
            if self.task == "multiclass":
                return np.concatenate([proba, np.zeros((len(proba), 1))], axis=1)[:, self.proba_index]
            return proba[:, self.proba_index]
        return self.read(self.predict(frame), len(frame))

    def read(self, output: Any, rows: int) -> np.ndarray:
        """predict()'s output read for the task."""
        return task_scores(output, self.task, self.spec, rows, self.positive_label, self.classes)

    def _choose_source(self, output: Any, forced: bool = False) -> None:
        """Use the estimator's predict_proba when predict() gives labels and the policy allows it."""
        from tasks.model_views import probability_source

        wanted = "predict_proba" if forced else self.spec.scores_from
        if self.task == "regression":
            found = probability_source(self.model)
            if found is not None:
                raise TaskMismatch(
                    f"the policy's task is regression but the model is a classifier (its {found[2]} has "
                    f"predict_proba and classes {', '.join(map(str, found[1][:5]))})"
                )
        if (
            self.task == "regression"
            or wanted == "predict"
            or (wanted == "auto" and self.spec.kind not in ("auto", "label"))
        ):
            return
        found = probability_source(self.model)
        if found is None:
            if wanted == "predict_proba":
                raise ValueError("model_output.scores_from is predict_proba but the model offers no predict_proba")
            return
        if wanted == "auto":
            values = np.asarray(output.iloc[:, 0] if isinstance(output, pd.DataFrame) else output)
            labels = self.classes if self.task == "multiclass" else (0, 1)
            whole = values.dtype.kind in "iub" or (values.dtype.kind == "f" and np.isin(values, labels).all())
            looks_like_labels = values.ndim == 1 and (values.dtype.kind in "OUS" or whole)
            if not looks_like_labels:
                return
        proba, classes, estimator = found
        if self.task == "multiclass":
            self._multiclass_source(proba, classes, estimator)
            return
        label = self.positive_label
        matches = [i for i, c in enumerate(classes) if c == label or str(c) == str(label)]
        if not matches:
            raise ValueError(f"the model's classes {classes[:5]} do not include the positive label {label!r}")
        self.proba, self.proba_index = proba, matches[0]
        self.score_source = f"predict_proba() of the {estimator} (predict() returns labels)"

    def _multiclass_source(self, proba: Any, classes: list[Any], estimator: str) -> None:
        """predict_proba's columns put in the task's class order (a class it lacks scores 0)."""
        position = {str(c): i for i, c in enumerate(classes)}
        unknown = [str(c) for c in self.classes if str(c) not in position]
        if unknown and len(unknown) == len(self.classes):
            raise TaskMismatch(
                f"the eval labels ({', '.join(map(str, self.classes[:5]))}) are not among the model's classes "
                f"({', '.join(map(str, classes[:10]))})"
            )
        if unknown:
            raise TaskMismatch(f"label(s) {', '.join(unknown[:5])} of the eval data are not among the model's classes")
        self.proba, self.proba_index = proba, [position[str(c)] for c in self.classes]
        self.score_source = f"predict_proba() of the {estimator} (predict() returns labels)"

    def _score_rows(self, frame: pd.DataFrame, choose: bool) -> tuple[np.ndarray, np.ndarray] | dict[str, Any]:
        """(what the gates judge, predict() as served) on some rows, or the error reply; `choose`: pick the score
        source from this output (the first rows scored)."""
        try:
            output = self.predict(frame)
        except Exception as exc:  # the model's own failure is evidence
            return {"error": _first_line(exc)}
        try:
            if choose:
                self._choose_source(output)
            served = self.read(output, len(frame))
            return (served if self.proba is None else self.scores(frame)), served
        except TaskMismatch as exc:
            return {"error": str(exc), "bad_input": True}
        except Exception as exc:
            return {"error": _first_line(exc)}

    def score(self, request: dict[str, Any]) -> dict[str, Any]:
        """score() on the eval rows this judge holds (`batch_rows` at a time when the request says); the arrays'
        file names start with the request's `prefix`."""
        start = time.perf_counter()
        step = int(request.get("batch_rows") or len(self.frame) or 1)
        parts = []
        for first in range(0, max(len(self.frame), 1), step):
            found = self._score_rows(self.frame.iloc[first : first + step], choose=not parts)
            if isinstance(found, dict):
                return {**found, "seconds": time.perf_counter() - start}
            parts.append(found)
        values, served = (np.concatenate([p[i] for p in parts]) for i in (0, 1))
        prefix = str(request.get("prefix", ""))
        np.save(self.work / f"{prefix}scores.npy", values)
        np.save(self.work / f"{prefix}served_scores.npy", served)
        return {
            "scores": f"{prefix}scores.npy",
            "served_scores": f"{prefix}served_scores.npy",
            "source": self.score_source,
            "seconds": time.perf_counter() - start,
        }

    def score_stream(self, request: dict[str, Any]) -> dict[str, Any]:
        """score() over every row of Parquet files, batch by batch: each batch's scores are appended to the .npy
        file as they come (none are held here), and predict() as served kept on the rows of `served_rows` (the
        acting side's sample)."""
        from tasks.stream_data import iter_batches

        start = time.perf_counter()
        rows, done = int(request["rows"]), 0
        keep = self.rows(request["served_rows"])
        served: np.ndarray | None = None
        path = self.work / "scores.npy"
        with path.open("wb") as out:
            for batch in iter_batches(tuple(request["files"]), int(request["batch_rows"]), list(request["columns"])):
                frame = batch.to_pandas()
                found = self._score_rows(frame, choose=served is None)
                if isinstance(found, dict):
                    return {**found, "seconds": time.perf_counter() - start}
                part, part_served = found
                if served is None:
                    header = {"descr": "<f8", "fortran_order": False, "shape": (rows, *part.shape[1:])}
                    np.lib.format.write_array_header_2_0(out, header)
                    served = np.empty((keep.size, *part_served.shape[1:]), dtype=np.float64)
                out.write(np.ascontiguousarray(part, dtype="<f8").tobytes())
                lo, hi = np.searchsorted(keep, [done, done + len(frame)])
                served[lo:hi] = part_served[keep[lo:hi] - done]
                done += len(frame)
        release_free_memory()  # the batches' frames: freed, but kept by the allocator while the judge idles
        if done != rows or served is None:
            path.unlink()
            return {"error": f"read {done} of {rows} eval rows", "seconds": time.perf_counter() - start}
        np.save(self.work / "served_scores.npy", served)
        return {
            "scores": "scores.npy",
            "served_scores": "served_scores.npy",
            "source": self.score_source,
            "seconds": time.perf_counter() - start,
        }

    def rows(self, name: str) -> np.ndarray:
        """An index or label array the acting side wrote into the work folder."""
        return np.load(self.work / name, allow_pickle=False)


def handle(host: ModelHost, request: dict[str, Any]) -> dict[str, Any]:
    """Dispatch one request; an exception becomes an error reply."""
    from tasks import judging_ops

    op = request["op"]
    try:
        if op == "load":
            return {"ok": True, **host.load(request.get("scores_from"))}
        if op == "score":
            return {"ok": True, **host.score(request)}
        if op == "score_stream":
            return {"ok": True, **host.score_stream(request)}
        return {"ok": True, **judging_ops.OPS[op](host, request)}
    except Exception as exc:
        return {"ok": False, "error": _first_line(exc), "trace": traceback.format_exc()[-2000:]}


def main() -> None:
    work = Path(sys.argv[1])
    config = json.loads((work / "config.json").read_text())
    reply = os.fdopen(int(os.environ["MODELGATE_REPLY_FD"]), "w", buffering=1)
    host = ModelHost(work, config)
    for line in sys.stdin:
        if not line.strip():
            continue
        answer = handle(host, json.loads(line))
        reply.write(json.dumps(answer, default=str) + "\n")
        reply.flush()


if __name__ == "__main__":
    main()
