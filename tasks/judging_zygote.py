"""A judging-side process that has imported the libraries once and forks a fresh judge per model.

`python -m tasks.judging_zygote` runs in the judging environment (no tracking URI, no credentials). The
acting side sends it, over the UNIX socket in $MODELGATE_ZYGOTE_FD, {"work": DIR} with two pipe ends
attached (requests to read, replies to write). It forks; the child starts its own session, logs to
DIR/judge.log and serves requests as tasks.judging_worker does. The zygote answers {"pid": N} and, when a
child ends, writes its wait status to DIR/exit_status. No model is ever loaded in the zygote itself, so
every judge starts clean.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from pathlib import Path

CHILDREN: dict[int, Path] = {}


def _preload() -> None:
    """What judges need, imported once; forks share the pages, so a judge starts in a fraction of a second.
    torch is imported but never run here (no thread pool exists before a fork)."""
    import mlflow.pyfunc  # noqa: F401
    import pandas  # noqa: F401
    import torch  # noqa: F401

    import gates.model_input  # noqa: F401
    import gates.policy  # noqa: F401
    import gates.robustness  # noqa: F401
    import gates.scores  # noqa: F401
    import tasks.judging_worker  # noqa: F401


def _reap(_signum: int, _frame: object) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        work = CHILDREN.pop(pid, None)
        if work is not None:
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            (work / "exit_status").write_text(str(code))


def _become_judge(work: Path, requests: int, replies: int) -> None:
    """In the forked child: own session, own stdio, then the worker loop (never returns)."""
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
    os.chdir(work)
    log = os.open(work / "judge.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(requests, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.environ["MODELGATE_ACCESS_LOG"] = str(work / "access.log")
    os.environ["HOME"] = str(work)  # nothing shared between judges, models or attempts
    os.environ["MPLCONFIGDIR"] = str(work / ".matplotlib")
    os.environ["MODELGATE_REPLY_FD"] = str(replies)
    sys.stdin = os.fdopen(0, "r")
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    sys.argv = ["tasks.judging_worker", str(work)]
    code = 0
    try:
        from tasks.judging_worker import main

        main()
    except BaseException:  # the worker's own failure: its log has the traceback
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main() -> None:
    control = socket.socket(fileno=int(os.environ.pop("MODELGATE_ZYGOTE_FD")))
    _preload()
    signal.signal(signal.SIGCHLD, _reap)
    control.sendall(json.dumps({"ready": True}).encode() + b"\n")
    while True:
        message, fds, _flags, _addr = socket.recv_fds(control, 65536, 2)
        if not message:
            return  # the acting side went away
        request = json.loads(message)
        if "kill" in request:
            try:
                os.killpg(int(request["kill"]), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            control.sendall(json.dumps({"killed": request["kill"]}).encode() + b"\n")
            continue
        work = Path(request["work"])
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
        pid = os.fork()
        if pid == 0:
            control.close()
            _become_judge(work, fds[0], fds[1])
        CHILDREN[pid] = work
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        for fd in fds:
            os.close(fd)
        control.sendall(json.dumps({"pid": pid}).encode() + b"\n")


if __name__ == "__main__":
    main()
