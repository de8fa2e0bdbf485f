"""`recstream bench freshness`: how long until a click is reflected in the user's Redis state.

A steady load of clicks from known users runs at ``rate`` events/s: ``warm_s`` seconds first
(unmeasured: the workers join and every item earns its embedding, as in steady operation), then
``seconds`` more in which probe clicks come from users never seen before. A probe is reflected when Redis holds its item at
the head of the user's recent items AND the user's embedding (learned from it) exists. The time
from the producer call to that moment is measured by a poller that checks every outstanding probe
in one pipeline every ``poll_ms``, so each figure is late by at most that much.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from stream.bench.ingest import _clean_up
from stream.fleet import WorkerProcess, wait_for
from stream.redis_clients import sync_redis
from stream.producer import EventProducer
from stream.replay import paced
from stream.schemas import ClickEvent
from stream.settings import Settings
from stream.state import Keys
from stream.topics import ensure_topics


def run_freshness_bench(base: Settings, rate: float = 5000, seconds: float = 30,
                        probes_per_s: float = 20, poll_ms: float = 5,
                        warm_s: float = 10) -> dict[str, Any]:
    settings = base.namespaced(f"fresh-{uuid.uuid4().hex[:6]}")
    ensure_topics(settings)
    keys = Keys(settings.key_prefix)
    worker = WorkerProcess(settings, settings.state_dir / "bench-freshness-worker.log")
    sent_at: dict[str, tuple[float, str]] = {}  # probe user -> (produce time, item)
    seen_at: dict[str, float] = {}
    lock = threading.Lock()
    done = threading.Event()
    client = sync_redis(settings)

    def poll() -> None:
        while not done.is_set() or len(seen_at) < len(sent_at):
            with lock:
                pending = [(u, item) for u, (_, item) in sent_at.items() if u not in seen_at]
            if pending:
                pipe = client.pipeline(transaction=False)
                for user, _ in pending:
                    pipe.lindex(keys.recent(user), 0)
                    pipe.exists(keys.user_embedding(user))
                replies = pipe.execute()
                now = time.monotonic()
                for n, (user, item) in enumerate(pending):
                    if replies[2 * n] == item and replies[2 * n + 1]:
                        seen_at[user] = now
            if done.is_set() and time.monotonic() > stop_polling_at:
                return
            time.sleep(poll_ms / 1000)

    try:
        with EventProducer(settings) as producer:
            _warm_up(producer, client, keys, worker)
            warm = int(rate * warm_s)
            total = warm + int(rate * seconds)
            probe_every = max(int(rate / probes_per_s), 1)
            stop_polling_at = float("inf")
            poller = threading.Thread(target=poll, daemon=True)
            poller.start()
            started = time.monotonic()
            for n, event in enumerate(paced(_load(total), rate=rate)):
                if n >= warm and n % probe_every == 0:
                    event = event.model_copy(update={"user_id": f"probe-{n}"})
                    producer.send(event)
                    producer._producer.poll(0)
                    with lock:
                        sent_at[event.user_id] = (time.monotonic(), event.item_id)
                else:
                    producer.send(event)
            achieved = total / (time.monotonic() - started)  # over warm-up and measurement
        stop_polling_at = time.monotonic() + 30
        done.set()
        poller.join()
    finally:
        worker.stop()
        _clean_up(settings)
    latencies = sorted(seen_at[u] - t for u, (t, _) in sent_at.items() if u in seen_at)
    if not latencies:
        raise RuntimeError("no probe was reflected in Redis; see the worker log")
    return {
        "benchmark": "freshness",
        "target_rate": rate,
        "achieved_rate": round(achieved, 1),
        "seconds": seconds,
        "probes": len(sent_at),
        "reflected": len(latencies),
        "p50_ms": round(1000 * _quantile(latencies, 0.50), 1),
        "p99_ms": round(1000 * _quantile(latencies, 0.99), 1),
        "max_ms": round(1000 * latencies[-1], 1),
        "poll_resolution_ms": poll_ms,
    }


def _load(n: int):  # type: ignore[no-untyped-def]
    """Clicks of 20,000 known users on 2,000 items, with their own ids and current times."""
    for i in range(n):
        yield ClickEvent(event_id=f"f{i}", user_id=f"u{(i * 7919) % 20_000}",
                         item_id=f"i{(i * 104_729) % 2_000}", ts=datetime.now(UTC))


def _warm_up(producer: EventProducer, client: Any, keys: Keys, worker: WorkerProcess) -> None:
    """Wait until the worker has joined and applies clicks, so start-up is not measured."""
    producer.send(ClickEvent(event_id="warm", user_id="warm-up", item_id="i0",
                             ts=datetime.now(UTC)))
    producer.flush()
    wait_for(lambda: client.lindex(keys.recent("warm-up"), 0) == "i0", [worker],
             "the worker applying clicks", 120, interval_s=0.05)


def _quantile(sorted_values: list[float], q: float) -> float:
    index = min(int(q * len(sorted_values)), len(sorted_values) - 1)
    return sorted_values[index]


def format_report(report: dict[str, Any]) -> str:
    return (f"freshness at {report['achieved_rate']:,.0f} events/s (target {report['target_rate']:,.0f})"
            f" for {report['seconds']} s: {report['reflected']}/{report['probes']} probes "
            f"reflected, p50 {report['p50_ms']} ms, p99 {report['p99_ms']} ms, max "
            f"{report['max_ms']} ms (poll resolution {report['poll_resolution_ms']} ms)")
