"""Clean-process checks of a version: `python -m tasks.integration_probe ARGS.json` (a judging-side process).

Loads the version from its local copy as a serving system would, then checks: the signature matches the
eval rows, the logged input example predicts, predictions through the input path equal the flow's
(determinism), and batch predictions equal single-row ones. Whether predict() also takes the eval file's
own dtypes is recorded as a note for clients. Prints one JSON object after a marker:
{"checks": [{name, passed, detail}], "timings": {}, "notes": []}.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

MARK = "@@RESULT@@"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:300] if text else ''}".rstrip(": ")


def _check(checks: list[dict], name: str, fn: Callable[[], tuple[bool, str, Any]]) -> Any:
    try:
        passed, detail, value = fn()
    except Exception as exc:
        passed, detail, value = False, _first_line(exc), None
    checks.append({"name": name, "passed": bool(passed), "detail": detail})
    return value


def run(args: dict) -> dict:
    import mlflow.pyfunc
    from mlflow.models import Model

    from gates.model_input import InputSchema, input_problems, prepare
    from gates.policy import ModelOutputSpec
    from gates.scores import task_scores

    checks: list[dict] = []
    notes: list[str] = []
    timings: dict[str, float] = {}
    spec = ModelOutputSpec.model_validate(args["model_output"])
    schema = InputSchema.from_dict(args["schema"])
    sample = pd.read_parquet(args["sample"])
    expected = np.load(args["expected"], allow_pickle=False)
    local = args["model_dir"]
    start = time.perf_counter()
    model = _check(checks, "loads in a clean process", lambda: (True, "local copy", mlflow.pyfunc.load_model(local)))
    timings["load_seconds"] = time.perf_counter() - start
    if model is None:
        return {"checks": checks, "timings": timings, "notes": notes}

    def predict(frame: pd.DataFrame) -> np.ndarray:
        output = model.predict(prepare(frame, schema))
        task, classes = args.get("task", "binary"), tuple(args.get("classes") or ())
        return task_scores(output, task, spec, len(frame), args["positive_label"], classes)

    def signature() -> tuple[bool, str, None]:
        problems = input_problems(sample, schema)
        return not problems, "; ".join(problems) or f"eval rows match: {schema.describe()}", None

    if schema.signed:
        _check(checks, "signature matches the eval data", signature)
    else:
        notes.append("No signature was logged: a scoring server cannot check what clients send.")

    def input_example() -> tuple[bool, str, None]:
        out = model.predict(Model.load(local).load_input_example(local))
        if isinstance(out, dict):  # named outputs (e.g. an ONNX graph's): count the rows of one
            out = next(iter(out.values()), [])
        return True, f"predicted {len(out) if hasattr(out, '__len__') else 1} row(s)", None

    if Model.load(local).saved_input_example_info is not None:
        _check(checks, "logged input example predicts", input_example)
    else:  # nothing to check is evidence for clients, not a failure
        notes.append("No input example was logged: clients have no example to copy.")
    batch = _check(checks, "predicts the sample", lambda: (True, f"{len(sample)} rows", predict(sample)))
    if batch is not None:
        tol = float(args["tolerance"])

        def determinism() -> tuple[bool, str, None]:
            diff = float(np.max(np.abs(batch - expected)))
            return diff <= tol, f"max |difference| from the flow's predictions {diff:.3g} (tolerance {tol})", None

        def single_rows() -> tuple[bool, str, None]:
            n = min(int(args["single_rows"]), len(sample))
            singles = np.array([predict(sample.iloc[[i]].reset_index(drop=True))[0] for i in range(n)])
            diff = float(np.max(np.abs(singles - batch[:n])))
            return diff <= tol, f"{n} single-row predictions, max |difference| from the batch {diff:.3g}", None

        _check(checks, "deterministic: equals the flow's predictions", determinism)
        _check(checks, "single rows agree with the batch", single_rows)
        notes += _raw_dtype_note(model, sample, schema)
    return {"checks": checks, "timings": timings, "notes": notes}


def _raw_dtype_note(model: Any, sample: pd.DataFrame, schema: Any) -> list[str]:
    """Whether predict() also takes the rows as the file holds them (64-bit numbers); evidence for clients."""
    if schema.tensor is not None:
        raw: Any = sample[list(schema.tensor.columns)].to_numpy()
        tail = schema.tensor.shape[1:]
        if len(tail) > 1 and all(d > 0 for d in tail):  # array data: the rows in the signature's shape
            raw = raw.reshape((len(raw), *tail))
        kind = f"{raw.dtype} arrays"
    else:
        raw = sample[[c for c in schema.names if c in sample.columns]]
        kind = "the eval file's own dtypes"
    try:
        model.predict(raw)
    except Exception as exc:
        return [
            f"predict() refuses {kind} ({_first_line(exc)[:160]}); clients calling the model in Python must cast "
            f"to the signature's types ({schema.describe()[:200]}); the scoring server casts JSON itself."
        ]
    return []


def main() -> None:
    with open(sys.argv[1]) as fh:
        args = json.load(fh)
    try:
        result = run(args)
    except Exception:
        result = {
            "checks": [{"name": "probe", "passed": False, "detail": traceback.format_exc()[-1500:]}],
            "timings": {},
            "notes": [],
        }
    sys.stdout.write("\n" + MARK + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
