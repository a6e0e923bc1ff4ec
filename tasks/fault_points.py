"""The project's fault-injection points: named places in a promotion where a test can pause the process.

`checkpoint(name)` returns at once unless $MODELGATE_PAUSE_AT (comma-separated names) lists `name`. Then it
writes `<name>.reached` into $MODELGATE_PAUSE_DIR and waits (at most $MODELGATE_PAUSE_MAX_S, default 120 s)
until `<name>.go` appears there, so a test can kill or restart a server at exactly that point and let the
promotion go on. A point already released (its `.go` exists) does not pause again.

Points, in the order a promotion reaches them:
  judging          run_gates, inputs loaded (champion read), before any gate runs
  gates            run_gates, after the data gates, before the models are scored
  acting           act(), after the decision, before anything is read or written for it
  ledger_created   ledger.open_entry, right after the attempt's run was created
  evidence_upload  ledger.log_evidence, after metrics and parameters, before the JSON and report files
  alias_move       before the compare-and-set move of the champion alias
  alias_moved      compare-and-set, between setting the champion and the previous-champion alias
  alias_readback   compare-and-set, after both aliases were set, before the read-back
  version_tags     replace_version_tags, after the first tag was written
  finalise         ledger.finalise, after the outcome tags, before the run is ended FINISHED
  mark_failed      act(), when acting stopped, before the attempt is marked FAILED
"""

from __future__ import annotations

import os
import time
from pathlib import Path

PAUSE_AT_ENV = "MODELGATE_PAUSE_AT"
PAUSE_DIR_ENV = "MODELGATE_PAUSE_DIR"
PAUSE_MAX_ENV = "MODELGATE_PAUSE_MAX_S"
POLL_S = 0.05


def checkpoint(name: str) -> None:
    """Pause here while a test injects a fault, if $MODELGATE_PAUSE_AT names this point; else return."""
    wanted = os.environ.get(PAUSE_AT_ENV)
    if not wanted or name not in {p.strip() for p in wanted.split(",")}:
        return
    folder = Path(os.environ.get(PAUSE_DIR_ENV) or ".")
    go = folder / f"{name}.go"
    if go.exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.reached").write_text(str(os.getpid()))
    deadline = time.monotonic() + float(os.environ.get(PAUSE_MAX_ENV, "120"))
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(POLL_S)
