"""Hostile pyfunc models for the untrusted-model tests, and the helpers that log them.

Each model scores like an honest logistic model on the columns a, b, c, and also does what a malicious or
broken one would: move the champion alias to itself, read its environment, call the tracking server, or
kill its own process. The judging side imports this module to unpickle them, so it stays light (numpy,
pandas, mlflow) and never imports the project's test fixtures.
"""

from __future__ import annotations

import ctypes
import json
import os
import pwd
import threading
import time
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.models import infer_signature

COLUMNS = ("a", "b", "c")
TARGET = "y"
# Names whose presence in a judging process would hand model code the acting side's rights.
SECRETS = (
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
)


def synthetic_frame(rows: int, seed: int) -> pd.DataFrame:
    """Rows of a, b, c with a 0/1 target that depends on a and b."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.5, size=rows) > 0).astype("int64")
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], TARGET: y})


# Weights of an honest candidate (close to the truth) and of a weaker champion (sees b only).
GOOD = (2.0, 1.0, 0.0)
WEAK = (0.0, 1.0, 0.0)


class LogisticModel(mlflow.pyfunc.PythonModel):
    """p = sigmoid(w . x) over a, b, c: a small, honest scorer."""

    def __init__(self, weights: tuple[float, float, float] = GOOD) -> None:
        self.weights = [float(w) for w in weights]

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        x = frame[list(COLUMNS)].to_numpy(dtype=np.float64)
        return 1.0 / (1.0 + np.exp(-(x @ np.asarray(self.weights))))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> np.ndarray:
        return self.scores(model_input)


def move_champion(model: str, version: str) -> str:
    """What a hijacking model does: point the champion alias at its own version. The failure is swallowed,
    as a model that wants to go unnoticed would, so the model still loads and scores."""
    from mlflow import MlflowClient

    try:
        MlflowClient().set_registered_model_alias(model, "champion", version)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return "moved"


class HijackOnLoad(LogisticModel):
    """Moves the champion alias to itself from load_context."""

    def __init__(self, model: str, version: str) -> None:
        super().__init__()
        self.target = (model, version)

    def load_context(self, context: Any) -> None:
        move_champion(*self.target)


class HijackOnPredict(LogisticModel):
    """Moves the champion alias to itself from predict."""

    def __init__(self, model: str, version: str) -> None:
        super().__init__()
        self.target = (model, version)

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> np.ndarray:
        move_champion(*self.target)
        return self.scores(model_input)


class HijackAndHide(LogisticModel):
    """Moves the champion alias to itself from load_context, then truncates every file its environment
    names as a log (the judging side's record of refused registry calls among them)."""

    def __init__(self, model: str, version: str) -> None:
        super().__init__()
        self.target = (model, version)

    def load_context(self, context: Any) -> None:
        move_champion(*self.target)
        for name, value in os.environ.items():
            if name.endswith("_LOG") and os.path.isfile(value):
                open(value, "w").close()


class HijackByAddress(LogisticModel):
    """Moves the champion alias to itself from load_context through a registry address it was given (as it
    could find one: a SQLite file is open in the acting process, /proc/<pid>/fd shows it)."""

    def __init__(self, model: str, version: str, tracking_uri: str) -> None:
        super().__init__()
        self.target = (model, version)
        self.tracking_uri = tracking_uri

    def load_context(self, context: Any) -> None:
        from mlflow import MlflowClient

        model, version = self.target
        client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        client.set_registered_model_alias(model, "champion", version)


class HijackFromThread(LogisticModel):
    """Starts a thread in load_context that waits a little, polls the registry for the champion, and moves it
    to itself when it can. predict() waits (at most 10 s) for the thread's first poll, so the attempt falls
    inside the judging window however fast the machine is."""

    def __init__(self, model: str, version: str, delay_s: float = 0.2, interval_s: float = 0.1) -> None:
        super().__init__()
        self.target = (model, version)
        self.delay_s, self.interval_s = delay_s, interval_s

    def load_context(self, context: Any) -> None:
        self.polled = threading.Event()
        threading.Thread(target=self._wait_then_move, daemon=True).start()

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> np.ndarray:
        self.polled.wait(10)
        return self.scores(model_input)

    def _wait_then_move(self) -> None:
        time.sleep(self.delay_s)
        poll_until_moved(*self.target, self.polled, self.interval_s)


def poll_until_moved(model: str, version: str, polled: threading.Event, interval_s: float) -> None:
    """Poll the registry's champion until the registry answers, then move the alias to `version`."""
    from mlflow import MlflowClient

    while True:
        try:
            holder = MlflowClient().get_model_version_by_alias(model, "champion")
        except Exception:
            polled.set()
            time.sleep(interval_s)
            continue
        if str(holder.version) != version:
            move_champion(model, version)
        return


class HijackAfterScoring(LogisticModel):
    """A thread that starts polling the registry only once predict() has returned: after the model's last
    answer to the judging side, while the process is still alive. Touches `marker` after its first poll."""

    def __init__(self, model: str, version: str, marker: str, interval_s: float = 0.05) -> None:
        super().__init__()
        self.target = (model, version)
        self.marker, self.interval_s = marker, interval_s

    def load_context(self, context: Any) -> None:
        self.scored = threading.Event()
        self.polled = threading.Event()
        threading.Thread(target=self._after_scoring, daemon=True).start()

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> np.ndarray:
        self.scored.set()
        return self.scores(model_input)

    def _after_scoring(self) -> None:
        self.scored.wait()
        time.sleep(0.2)  # the reply is on its way
        threading.Thread(target=self._mark_when_polled, daemon=True).start()
        poll_until_moved(*self.target, self.polled, self.interval_s)

    def _mark_when_polled(self) -> None:
        self.polled.wait()
        Path(self.marker).touch()


class ChampionSaboteur(LogisticModel):
    """A weaker model that, in load_context, shuffles the rows the champion's judging process will score
    (its sibling work folder, ../champion/eval.parquet), so the champion looks no better than chance."""

    def load_context(self, context: Any) -> None:
        target = Path.cwd().parent / "champion" / "eval.parquet"
        deadline = time.monotonic() + 30
        while not target.is_file() and time.monotonic() < deadline:
            time.sleep(0.05)
        rows = pd.read_parquet(target)
        rows.sample(frac=1.0, random_state=0).reset_index(drop=True).to_parquet(target, index=False)


def _sees() -> dict[str, Any]:
    """What model code can find in its own process: environment names, HOME, credentials files."""
    home = os.environ.get("HOME", "")
    return {
        "environ": sorted(os.environ),
        "secrets": {name: os.environ[name] for name in SECRETS if name in os.environ},
        "tracking_uri": os.environ.get("MLFLOW_TRACKING_URI"),
        "home": home,
        "expanded_home": os.path.expanduser("~"),
        "credentials_file": os.path.isfile(os.path.join(home, ".mlflow", "credentials")),
        "account_home": pwd.getpwuid(os.getuid()).pw_dir,
    }


def _ancestors() -> list[int]:
    """This process's parent, grandparent, ... up to (not including) init."""
    found, pid = [], os.getppid()
    while pid > 1:
        found.append(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return found


def _ancestor_environ(names: tuple[str, ...]) -> list[str]:
    """The names among `names` that any ancestor process was started with (its /proc/<pid>/environ)."""
    found: set[str] = set()
    for pid in _ancestors():
        try:
            raw = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        found |= {entry.split(b"=", 1)[0].decode(errors="replace") for entry in raw.split(b"\0") if entry}
    return sorted(n for n in names if n in found)


class EnvironmentSpy(LogisticModel):
    """Writes what it can see (in load_context and in predict) as JSON lines to `record_path`."""

    def __init__(self, record_path: str) -> None:
        super().__init__()
        self.record_path = record_path

    def _record(self, where: str) -> None:
        seen = {"where": where, **_sees(), "ancestor_environ": _ancestor_environ(SECRETS)}
        with open(self.record_path, "a") as fh:
            fh.write(json.dumps(seen) + "\n")

    def load_context(self, context: Any) -> None:
        self._record("load_context")

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> np.ndarray:
        self._record("predict")
        return self.scores(model_input)


class RegistryCaller(LogisticModel):
    """Calls the registry from predict, at an explicit tracking URI or at the default one, and writes the
    answer (or the error, with its HTTP status) as JSON lines to `record_path`."""

    def __init__(self, model: str, record_path: str, tracking_uri: str | None) -> None:
        super().__init__()
        self.model, self.record_path, self.tracking_uri = model, record_path, tracking_uri

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> np.ndarray:
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        seen: dict[str, Any] = {"tracking_uri": self.tracking_uri}
        try:
            uri = self.tracking_uri
            seen["answer"] = str(MlflowClient(uri, registry_uri=uri).get_registered_model(self.model).aliases)
        except MlflowException as exc:
            seen["status"], seen["error_code"] = exc.get_http_status_code(), exc.error_code
            seen["error"] = f"{type(exc).__name__}: {exc}"
        with open(self.record_path, "a") as fh:
            fh.write(json.dumps(seen) + "\n")
        return self.scores(model_input)


def _crash(how: str) -> None:
    if how == "segfault":
        ctypes.string_at(0)  # reads address 0: SIGSEGV
    os._exit(3)


class Crasher(LogisticModel):
    """Kills its own process in load_context or predict: `how` is 'segfault' or 'exit' (os._exit(3))."""

    def __init__(self, how: str, when: str) -> None:
        super().__init__()
        self.how, self.when = how, when

    def load_context(self, context: Any) -> None:
        if self.when == "load_context":
            _crash(self.how)

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> np.ndarray:
        if self.when == "predict":
            _crash(self.how)
        return self.scores(model_input)


def log_model(name: str, model: mlflow.pyfunc.PythonModel, example: pd.DataFrame, experiment_id: str) -> str:
    """Log and register a python model; returns its version.

    No input example: MLflow would load the model and predict it here, in the test process, to check the
    example, and these models must run only on the judging side."""
    with mlflow.start_run(experiment_id=experiment_id):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=model,
            signature=infer_signature(example, np.zeros(len(example))),
            pip_requirements=["pandas", "numpy"],
            registered_model_name=name,
        )
    return str(info.registered_model_version)


class SlowModel(LogisticModel):
    """An honest scorer that takes `delay_s` seconds over every predict() (a large model's long pass)."""

    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> np.ndarray:
        time.sleep(self.delay_s)
        return self.scores(model_input)
