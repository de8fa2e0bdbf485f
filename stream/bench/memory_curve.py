"""`recstream bench memory --curve`: the worker's memory over a long replay of a fixed population.

A synthetic shop with a fixed customer base (``users``) and catalogue (``items``) is replayed
through one worker, ``events`` events in all, while the worker's resident memory is read every
``every_s`` seconds with how many events it has dealt with. With every structure bounded, the
curve rises while the population is first met, then stays flat: the report gives the growth
over the second half of the run beside the first's.
"""

from __future__ import annotations

import threading
import time
import uuid
from itertools import islice
from typing import Any

from stream.bench.namespace import clean_up
from stream.data.sources import open_source
from stream.ops.fleet import WorkerProcess, wait_for
from stream.settings import Settings
from stream.store.reads import StateReader
from stream.transport.producer import EventProducer
from stream.transport.topics import ensure_topics


def run_memory_curve(base: Settings, events: int = 1_000_000, users: int = 20_000,
                     items: int = 5_000, every_s: float = 5.0,
                     timeout_s: float = 3600) -> dict[str, Any]:
    settings = base.namespaced(f"memcurve-{uuid.uuid4().hex[:6]}")
    ensure_topics(settings)
    reader = StateReader(settings.redis)
    worker = WorkerProcess(settings, settings.stack.state_dir / "bench-memory-curve-worker.log")
    sent = threading.Event()
    # Days enough that the shop yields ``events`` from its fixed population.
    source = open_source("synthetic", None, seed=5, users=users, items=items, days=3650)

    def produce() -> None:
        with EventProducer(settings) as producer:
            producer.send_many(islice(source, events))
        sent.set()

    points: list[tuple[int, float, int]] = []  # (events dealt with, seconds, worker RSS)
    try:
        wait_for(lambda: "assigned" in worker.output(), [worker], "the worker joined", 120)
        started = time.monotonic()
        producer = threading.Thread(target=produce, daemon=True)
        producer.start()
        while True:
            dealt = reader.applied_total()
            points.append((dealt, round(time.monotonic() - started, 1), worker.rss_bytes()))
            if sent.is_set() and dealt >= events:
                break
            if not worker.alive or time.monotonic() - started > timeout_s:
                raise RuntimeError(f"the worker stopped or timed out at {dealt:,} events")
            time.sleep(every_s)
        producer.join()
    finally:
        worker.stop()
        clean_up(settings)
    half = next(p for p in points if p[0] >= events // 2)
    first, last = points[0], points[-1]
    return {
        "benchmark": "memory-curve",
        "events": events, "users": users, "items": items,
        "points": [{"events": e, "seconds": s, "rss_bytes": r} for e, s, r in points],
        "rss_growth_first_half_bytes": half[2] - first[2],
        "rss_growth_second_half_bytes": last[2] - half[2],
    }


def format_curve(report: dict[str, Any]) -> str:
    lines = [f"worker memory over {report['events']:,} events of {report['users']:,} users and "
             f"{report['items']:,} items"]
    step = max(len(report["points"]) // 20, 1)
    lines += [f"  {p['events']:>10,} events {p['seconds']:>7.0f} s  RSS "
              f"{p['rss_bytes'] / 2**20:>7,.0f} MiB" for p in report["points"][::step]]
    lines.append(f"  growth: first half {report['rss_growth_first_half_bytes'] / 2**20:,.0f} MiB,"
                 f" second half {report['rss_growth_second_half_bytes'] / 2**20:,.0f} MiB")
    return "\n".join(lines)
