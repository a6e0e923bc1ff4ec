"""The acting side waits for the first of two scoring models (tasks.judging.first_answer): it returns as soon as
one has answered, never waits past its timeout, and leaves the other's reply to be read."""

from __future__ import annotations

import time
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.models import infer_signature

from tasks.judging import JudgingSide, first_answer
from tasks.model_copies import input_schema
from tests.integration import hostile_models as hm


def _save(tmp_path: Path, name: str, model: mlflow.pyfunc.PythonModel, frame: pd.DataFrame) -> str:
    path = tmp_path / name
    mlflow.pyfunc.save_model(
        str(path), python_model=model, signature=infer_signature(frame, np.zeros(len(frame))), pip_requirements=[]
    )
    return str(path)


def test_the_wait_ends_when_the_faster_model_answers_and_the_slower_still_replies(tmp_path: Path) -> None:
    frame = hm.synthetic_frame(50, seed=0)[list(hm.COLUMNS)]
    dirs = {"candidate": _save(tmp_path, "slow", hm.SlowModel(12.0), frame)}
    dirs["champion"] = _save(tmp_path, "fast", hm.LogisticModel(hm.WEAK), frame)
    with JudgingSide() as side:
        judges = {}
        for label, model_dir in dirs.items():
            config = {
                "schema": input_schema(mlflow.models.Model.load(model_dir).signature.inputs, None).to_dict(),
                "model_output": {"kind": "probability"},
                "positive_label": 1,
                "version": "1",
            }
            judges[label] = side.add(label, model_dir, frame, None, config)
            assert judges[label].call("load", 300).ok
        for judge in judges.values():
            assert judge.send("score") is None
        start = time.monotonic()

        waited = first_answer(list(judges.values()), timeout=120)

        assert judges["champion"].answering() and not judges["candidate"].answering()
        assert waited < 12.0 and time.monotonic() - start < 12.0
        assert judges["champion"].receive(10).ok
        assert not judges["candidate"].answering()
        short = first_answer([judges["candidate"]], timeout=0.5)  # still scoring: the wait ends at its timeout
        assert 0.5 <= short < 12.0 and not judges["candidate"].answering()
        slow = judges["candidate"].receive(60)
        assert slow.ok and slow.data["seconds"] >= 12.0
