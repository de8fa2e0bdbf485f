"""The whole machine's CPU, beside the workers': on a shared machine the broker, Redis, the load
generator and the workers take turns on the same cores, so a benchmark reports whether its
latencies waited for a core, not only what the system under test spent.
"""

from __future__ import annotations

import os
from pathlib import Path

# A machine this busy over a phase left its processes waiting for a core.
SATURATED_SHARE = 0.9


def busy_seconds(stat: str | None = None) -> float:
    """The CPU time every core together has spent busy since boot, from Linux's ``/proc/stat``
    (or its text): user, nice, system, irq, softirq and steal (time the hypervisor gave to
    others is not ours either); idle and waiting for I/O are not busy."""
    text = stat if stat is not None else Path("/proc/stat").read_text()
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, text.split("\n", 1)[0].split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def cores() -> int:
    return os.cpu_count() or 1


def saturated(busy_cores: float, of_cores: int) -> bool:
    return busy_cores >= SATURATED_SHARE * of_cores
