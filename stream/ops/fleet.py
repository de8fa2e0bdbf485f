"""Worker processes started from Python: for the demo, the benchmarks and the integration tests.

Each is a real `recstream worker` in its own process, as an operator runs it, so it can be
SIGKILLed like a crashed machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from stream.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]


class WorkerProcess:
    """A `recstream worker` child process writing its log to ``log``."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._out = open(log, "ab")  # noqa: SIM115 - the worker writes to it while it runs
        env = {k: v for k, v in os.environ.items() if not k.startswith("RECSTREAM_")}
        # The child runs in the repository; a relative state folder must still mean ours.
        env.update(settings.replace(state_dir=settings.stack.state_dir.resolve()).to_env())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "stream.cli", "worker"], cwd=REPO_ROOT, env=env,
            stdout=self._out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30) -> None:
        """Send ``sig`` (SIGKILL to simulate a crash) and wait; escalate to SIGKILL if stuck."""
        if self.alive:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._out.close()

    def rss_bytes(self) -> int:
        """The worker's resident memory now (Linux /proc), for the memory benchmark."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(kib) * 1024

    def cpu_seconds(self) -> float:
        """The CPU time the worker has used so far, user and system (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def wait_for(condition: Callable[[], bool], workers: Sequence[WorkerProcess], what: str,
             timeout_s: float, interval_s: float = 0.2) -> None:
    """Poll ``condition`` until it holds; fail at once when every worker has exited, and when
    ``timeout_s`` passes, naming ``what`` and the logs to read."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        logs = ", ".join(str(w.log) for w in workers)
        if not any(worker.alive for worker in workers):
            raise RuntimeError(f"the worker(s) exited before {what}; see {logs}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {what} within {timeout_s:.0f}s; see {logs}")
        time.sleep(interval_s)
