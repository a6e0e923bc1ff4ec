"""Layering and lint are part of the test suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

BIN = Path(sys.executable).parent


def test_import_contracts_hold():
    result = subprocess.run([str(BIN / "lint-imports")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "broken" not in result.stdout.split("Contracts:")[-1].replace("0 broken", "")


def test_contracts_catch_a_violation(tmp_path):
    """The gates contract really fails when a gate imports mlflow (checked on a copy of the tree)."""
    import shutil

    for name in ("gates", "tasks", "flows", "modelgate", "demo"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "gates" / "leak.py").write_text("import mlflow\n")
    env = {"PYTHONPATH": str(tmp_path), "PATH": str(BIN)}
    result = subprocess.run([str(BIN / "lint-imports")], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert result.returncode != 0 and "gates/ is pure" in result.stdout


def test_ruff_clean():
    for args in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run([str(BIN / "ruff"), *args], cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout[-3000:]
