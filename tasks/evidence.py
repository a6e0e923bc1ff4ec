"""Where evidence files go, and a cache so heavy reports are written once per input hash."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from gates.result import GateResult, GateStatus


def modelgate_home() -> Path:
    """$MODELGATE_HOME (./.modelgate by default): the state modelgate keeps on this machine."""
    return Path(os.environ.get("MODELGATE_HOME", ".modelgate")).resolve()


def evidence_root() -> Path:
    """$MODELGATE_HOME/evidence (./.modelgate/evidence by default)."""
    return modelgate_home() / "evidence"


def key_of(*parts: object) -> str:
    """A short stable hash of the parts."""
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:20]


def cached_gate(kind: str, key: str, compute: Callable[[Path], GateResult]) -> GateResult:
    """Run `compute(out_dir)` once per key; later calls return the stored result and its files.

    Errored results are not cached, so a transient failure is retried next time.
    """
    out_dir = evidence_root() / "cache" / kind / key
    stored = out_dir / "result.json"
    if stored.is_file():
        result = GateResult.model_validate_json(stored.read_text())
        if all(Path(f).exists() for f in result.report_files):
            return result
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    result = compute(tmp)
    if result.status is GateStatus.ERRORED:
        shutil.rmtree(tmp, ignore_errors=True)
        return result
    files = tuple(str(out_dir / Path(f).relative_to(tmp)) for f in result.report_files)
    result = result.model_copy(update={"report_files": files})
    (tmp / "result.json").write_text(result.model_dump_json())
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return result


def cached_file(kind: str, key: str, name: str, compute: Callable[[Path], Path]) -> Path:
    """Write a report file once per key; returns its path."""
    path = evidence_root() / "cache" / kind / key / name
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        compute(tmp)
        tmp.rename(path)
    return path
