"""Bookkeeping of the local stack's background processes: spawning, pid files, liveness, stopping.

Kafka and Redis must outlive the command that started them, so the only link back to them is a
``<service>.pid`` file in the state folder. Everything that reads or trusts such a file lives
here, so "is it running?" has one answer for ``up``, ``status`` and ``down`` alike.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from stream.errors import UserFacingError


class StackError(UserFacingError):
    """The local stack could not be started; the message says what to look at."""


class Processes:
    """The services of one state folder: ``<name>.pid`` there, output in ``logs/<name>.log``."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.logs = state_dir / "logs"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def spawn(self, name: str, args: list[str]) -> None:
        with open(self.log(name), "ab") as out:
            process = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # survive the CLI that started it
            )
        self.pid_file(name).write_text(str(process.pid))

    def check_starting(self, name: str, deadline: float, timeout_s: float) -> None:
        """Raise if ``name`` died while we wait for it to answer, or the deadline has passed."""
        pid = self.read_pid(name)
        log = self.log(name)
        if pid is None or not _alive(pid):
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise StackError(f"{name} exited during start-up; see {log}:\n{tail}")
        if time.monotonic() > deadline:
            raise StackError(
                f"{name} did not answer within {timeout_s:.0f}s "
                f"(RECSTREAM_STACK_START_TIMEOUT_S); see {log}"
            )

    def pid_file(self, name: str) -> Path:
        return self.state_dir / f"{name}.pid"

    def read_pid(self, name: str) -> int | None:
        try:
            return int(self.pid_file(name).read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def running(self, name: str) -> bool:
        pid = self.read_pid(name)
        return pid is not None and _alive(pid) and _is_ours(pid, name)

    def stop(self, name: str, timeout_s: float) -> bool:
        """Stop ``name`` if its pid file names a live process of ours; True if one was stopped.

        SIGTERM first, SIGKILL once ``timeout_s`` has passed. The pid file goes either way, unless
        there is no readable pid in it.
        """
        pid = self.read_pid(name)
        if pid is None:
            return False
        stopped = False
        if _alive(pid) and _is_ours(pid, name):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
            stopped = True
        self.pid_file(name).unlink(missing_ok=True)
        return stopped


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child (started by this very process) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _is_ours(pid: int, name: str) -> bool:
    """A pid file may outlive its process and the pid be reused: check what the pid runs."""
    marker = {"kafka": b"kafka.Kafka", "redis": b"redis-server"}[name]
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return marker in cmdline.read()
    except OSError:
        return False
