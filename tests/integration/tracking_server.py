"""`python -m tests.integration.tracking_server ARGS`: `mlflow server ARGS` in one process.

`mlflow server` checks its options, initialises the stores and then starts a second interpreter, uvicorn with
MLflow's tracking app, that imports everything again (~9 CPU-s for a start). Here MLflow's own `server` command
runs unchanged up to that point; the uvicorn command and environment it built are then run in this process
(~5 CPU-s), so the fault tests can restart the server many times. Killing this process kills the server.
"""

from __future__ import annotations

import os
import sys

COMMAND = [sys.executable, "-m", "tests.integration.tracking_server"]  # followed by `mlflow server`'s options


class _Built(Exception):
    """What `mlflow server` would have started: its command and extra environment."""

    def __init__(self, cmd: list[str], env: dict[str, str]) -> None:
        super().__init__()
        self.cmd, self.env = cmd, env


def _keep(cmd: list[str], extra_env: dict[str, str] | None = None, **_: object) -> None:
    raise _Built(cmd, extra_env or {})


def main(args: list[str]) -> None:
    import mlflow.server
    from mlflow.cli import server

    mlflow.server._exec_cmd = _keep  # the child `_run_server` would start: its command comes back instead
    try:
        server.main(args, prog_name="mlflow server", standalone_mode=False)
        raise SystemExit("mlflow server returned without starting uvicorn")
    except _Built as built:
        cmd, env = built.cmd, built.env
    if cmd[1:3] != ["-m", "uvicorn"]:
        raise SystemExit(f"not a uvicorn command: {cmd}")
    os.environ.update(env)

    import uvicorn.main

    uvicorn.main.main(cmd[3:], prog_name="uvicorn")


if __name__ == "__main__":
    main(sys.argv[1:])
