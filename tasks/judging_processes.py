"""Starting judging processes: forked from a zygote that imported the libraries once (tasks.judging_zygote).

The zygote runs in the judging environment and lives as long as this process; each judge is a fresh fork
in its own session, talking over two pipes. Its exit status comes from the zygote, which reaps it.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

READY_TIMEOUT_S = 300
SANDBOX_ENV = "MODELGATE_JUDGING_SANDBOX"
# Own user, PID and network namespaces: judges see no process of the acting side (so not its
# /proc/<pid>/environ) and have no network (not even the tracking server's address on loopback).
SANDBOX = ["unshare", "--user", "--map-current-user", "--pid", "--fork", "--kill-child", "--mount-proc", "--net"]
_SANDBOX_WORKS: list[bool] = []


def sandbox_prefix() -> list[str]:
    """The unshare command that puts the zygote in its own namespaces, when this system allows it
    ($MODELGATE_JUDGING_SANDBOX=off turns it off); empty otherwise."""
    if os.environ.get(SANDBOX_ENV, "auto") == "off" or shutil.which("unshare") is None:
        return []
    if not _SANDBOX_WORKS:
        try:
            done = subprocess.run([*SANDBOX, "true"], capture_output=True, timeout=30)
            _SANDBOX_WORKS.append(done.returncode == 0)
        except (OSError, subprocess.SubprocessError):
            _SANDBOX_WORKS.append(False)
    return list(SANDBOX) if _SANDBOX_WORKS[0] else []


def sandboxed() -> bool:
    """Whether judges run in their own namespaces here."""
    return bool(sandbox_prefix())


class ZygoteError(RuntimeError):
    """The judging zygote could not start or answer."""


class Zygote:
    """The process judges are forked from; started on first use, restarted if it died."""

    def __init__(self, environment: Callable[[Path], dict[str, str]]) -> None:
        self._environment = environment
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._control: socket.socket | None = None
        self._home: Path | None = None
        self._buffer = b""

    def _start(self) -> None:
        self._home = Path(tempfile.mkdtemp(prefix="modelgate-zygote-"))
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        log = (self._home / "zygote.log").open("ab")
        env = {**self._environment(self._home), "MODELGATE_ZYGOTE_FD": str(theirs.fileno())}
        self._proc = subprocess.Popen(
            [*sandbox_prefix(), sys.executable, "-m", "tasks.judging_zygote"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self._home,
            pass_fds=(theirs.fileno(),),
            start_new_session=True,
        )
        log.close()
        theirs.close()
        self._control = ours
        self._buffer = b""
        self._line(READY_TIMEOUT_S)

    def _line(self, timeout: float) -> dict:
        assert self._control is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            self._control.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                chunk = self._control.recv(4096)
            except TimeoutError:
                raise ZygoteError(f"the judging zygote did not answer within {timeout:g} s") from None
            if not chunk:
                tail = (self._home / "zygote.log").read_text(errors="replace")[-800:] if self._home else ""
                raise ZygoteError(f"the judging zygote exited: {tail.strip()}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def warm(self) -> None:
        """Start the zygote now, in the background, so that it has imported the libraries by the first fork (a
        failure here is left for fork() to meet and report)."""

        def start() -> None:
            with self._lock:
                if self._proc is None or self._proc.poll() is not None:
                    try:
                        self._start()
                    except (ZygoteError, OSError):
                        self._proc = None

        threading.Thread(target=start, name="judging-zygote-start", daemon=True).start()

    def fork(self, work: Path, requests: int, replies: int) -> int:
        """A new judge for `work`, reading requests from and writing replies to the given pipe ends."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            assert self._control is not None
            message = json.dumps({"work": str(work)}).encode()
            socket.send_fds(self._control, [message], [requests, replies])
            return int(self._line(60)["pid"])

    def kill(self, pid: int) -> None:
        """Kill a judge's session (its pid is the zygote's view of it, so the zygote does the killing)."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None or self._control is None:
                return
            self._control.sendall(json.dumps({"kill": pid}).encode())
            self._line(60)

    def stop(self) -> None:
        """Stop the zygote (judges have their own sessions and are stopped by their owners)."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                try:
                    os.killpg(self._proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self._proc.wait(timeout=30)
            if self._control is not None:
                self._control.close()
            if self._home is not None:
                shutil.rmtree(self._home, ignore_errors=True)
            self._proc, self._control, self._home = None, None, None


class JudgeProcess:
    """One forked judge: its pid, the request pipe (write end) and the reply pipe (read end)."""

    def __init__(self, zygote: Zygote, work: Path) -> None:
        self.work = work
        self.zygote = zygote
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        try:
            self.pid = zygote.fork(work, req_r, rep_w)
        finally:
            os.close(req_r)
            os.close(rep_w)
        self.requests = os.fdopen(req_w, "wb")
        self.replies = rep_r

    def exit_code(self, wait: float = 0.0) -> int | None:
        """The wait status the zygote recorded (negative: the signal that killed it), or None while alive."""
        deadline = time.monotonic() + wait
        while True:
            path = self.work / "exit_status"
            if path.is_file() and path.read_text().strip():
                return int(path.read_text())
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    def alive(self) -> bool:
        """The judge has not exited."""
        return self.exit_code() is None

    def kill(self) -> None:
        """Kill the judge's session (model threads and child processes included) and close the pipes."""
        if self.alive():
            self.zygote.kill(self.pid)
        self.exit_code(wait=10)
        for close in (self.requests.close, lambda: os.close(self.replies)):
            try:
                close()
            except OSError:
                pass


_ZYGOTES: dict[str, Zygote] = {}


def zygote(environment: Callable[[Path], dict[str, str]]) -> Zygote:
    """This process's zygote (one per process)."""
    if "default" not in _ZYGOTES:
        _ZYGOTES["default"] = Zygote(environment)
        atexit.register(_ZYGOTES["default"].stop)
    return _ZYGOTES["default"]
