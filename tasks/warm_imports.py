"""The data gates' libraries imported in a background thread while the eval data is read (seconds each)."""

from __future__ import annotations

import importlib
import threading
import warnings

GATE_LIBRARIES = ("great_expectations", "evidently", "evidently.presets")


def _import_all() -> None:
    for name in GATE_LIBRARIES:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the gate that needs it imports it again and reports what fails
            return


def start() -> threading.Thread:
    """Start importing; a later import of the same module waits for this one (Python's import lock)."""
    thread = threading.Thread(target=_import_all, name="modelgate-warm-imports", daemon=True)
    thread.start()
    return thread
