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


FILE_IO_CALLS = {
    "open",
    "write_text",
    "write_bytes",
    "read_text",
    "read_bytes",
    "mkdir",
    "save_html",
    "savefig",
    "to_csv",
    "to_parquet",
    "unlink",
    "rename",
    "system",
    "popen",
}


def test_gates_make_no_file_or_process_calls():
    """gates/ judges; reading and writing files or starting processes is tasks/' job (with the import contract)."""
    import ast

    found = []
    for path in sorted((ROOT / "gates").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name in FILE_IO_CALLS:
                    found.append(f"{path.name}:{node.lineno} {name}()")
    assert found == []


def test_task_and_flow_modules_stay_small():
    sizes = {
        f"{folder}/{path.name}": len(path.read_text().splitlines())
        for folder in ("tasks", "flows")
        for path in (ROOT / folder).glob("*.py")
    }
    assert {name: lines for name, lines in sizes.items() if lines > 300} == {}
