"""Clean-subprocess checks of a registered version: `python -m tasks.integration_probe ARGS.json`.

Loads the version by its registry URI as a serving system would, then checks: the signature matches the
eval rows, the logged input example predicts, predictions equal the flow's (determinism), and batch
predictions equal single-row ones. Prints one JSON object: {"checks": [{name, passed, detail}], "timings": {}}.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from typing import Any

import numpy as np
import pandas as pd


def _check(checks: list[dict], name: str, fn) -> Any:
    try:
        passed, detail, value = fn()
    except Exception as exc:
        passed, detail, value = (
            False,
            f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}",
            None,
        )
    checks.append({"name": name, "passed": bool(passed), "detail": detail})
    return value


def run(args: dict) -> dict:
    import mlflow
    import mlflow.pyfunc
    from mlflow.models import Model

    from gates.policy import ModelOutputSpec
    from gates.schema_check import ColumnSpec, eval_frame_problems
    from gates.scores import positive_scores

    checks: list[dict] = []
    timings: dict[str, float] = {}
    spec = ModelOutputSpec.model_validate(args["model_output"])
    sample = pd.read_parquet(args["sample"])
    expected = np.load(args["expected"])
    tensor_columns = args.get("tensor_columns")
    start = time.perf_counter()
    model = _check(checks, "load from the registry", lambda: (True, args["uri"], mlflow.pyfunc.load_model(args["uri"])))
    timings["load_seconds"] = time.perf_counter() - start
    if model is None:
        return {"checks": checks, "timings": timings}

    def predict(frame: pd.DataFrame) -> np.ndarray:
        if tensor_columns:
            return positive_scores(
                model.predict(frame[tensor_columns].to_numpy(np.float32, copy=True)), spec, len(frame)
            )
        return positive_scores(model.predict(frame.copy()), spec, len(frame))

    def signature() -> tuple[bool, str, None]:
        schema = model.metadata.get_input_schema()
        if schema is None:
            return False, "the version has no input signature", None
        if not schema.has_input_names():
            ok = bool(tensor_columns)
            return ok, "tensor signature, columns from the policy" if ok else "unnamed tensor signature", None
        cols = [
            ColumnSpec(c.name, str(getattr(c.type, "name", c.type)), bool(getattr(c, "required", True)))
            for c in schema.inputs
        ]
        problems = eval_frame_problems(sample.assign(**{args["target"]: 0}), cols, args["target"])
        return not problems, "; ".join(problems) or f"{len(cols)} columns match", None

    _check(checks, "signature matches the eval data", signature)

    def input_example() -> tuple[bool, str, None]:
        local = mlflow.artifacts.download_artifacts(args["uri"])
        example = Model.load(local).load_input_example(local)
        if example is None:
            return False, "no input example was logged", None
        out = model.predict(example)
        return True, f"predicted {len(out) if hasattr(out, '__len__') else 1} row(s)", None

    _check(checks, "logged input example predicts", input_example)
    batch = _check(checks, "predicts the sample", lambda: (True, f"{len(sample)} rows", predict(sample)))
    if batch is not None:
        tol = float(args["tolerance"])

        def determinism() -> tuple[bool, str, None]:
            diff = float(np.max(np.abs(batch - expected)))
            return diff <= tol, f"max |difference| from the flow's scores {diff:.3g} (tolerance {tol})", None

        def single_rows() -> tuple[bool, str, None]:
            n = min(int(args["single_rows"]), len(sample))
            singles = np.array([predict(sample.iloc[[i]])[0] for i in range(n)])
            diff = float(np.max(np.abs(singles - batch[:n])))
            return diff <= tol, f"{n} single-row predictions, max |difference| from the batch {diff:.3g}", None

        _check(checks, "deterministic: equals the flow's predictions", determinism)
        _check(checks, "single rows agree with the batch", single_rows)
    return {"checks": checks, "timings": timings}


def main() -> None:
    with open(sys.argv[1]) as fh:
        args = json.load(fh)
    try:
        result = run(args)
    except Exception:
        result = {
            "checks": [{"name": "probe", "passed": False, "detail": traceback.format_exc()[-1500:]}],
            "timings": {},
        }
    sys.stdout.write("\n@@RESULT@@" + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
