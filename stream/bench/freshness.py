"""`recstream bench freshness`: how long until a click is reflected in the user's Redis state.

A steady load of clicks from known users runs at ``rate`` events/s against ``workers`` workers:
``warm_s`` seconds first (unmeasured: the workers join, every item earns its embedding and the
broadcast fills every worker's item table, as in steady operation), then
``seconds`` more in which probe clicks come from users never seen before. The load is sent in
10 ms ticks as ready-made contract JSON through the SDK's librdkafka producer (same topic, key
and partitioner): on a shared 2-core machine the generator's own CPU competes with the workers,
and building and validating 5,000 pydantic events a second is the shop's cost, not recstream's.
Probes go through the SDK's ``send`` like any shop event. A probe is reflected when Redis holds its item at
the head of the user's recent items AND the user's embedding (learned from it) exists. The time
from the producer call to that moment is measured by a poller that checks the outstanding probes
in one pipeline every ``poll_ms``, a probe already waiting long every 2% of its age, so each figure
is late by at most the longer of the two (:class:`~stream.bench.load.Probes`).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from stream.bench.load import RECHECK_SHARE, Probes, quantile, send_load, warm_up
from stream.bench.namespace import clean_up
from stream.ops.fleet import WorkerProcess
from stream.settings import Settings
from stream.store.reads import StateReader
from stream.transport.producer import EventProducer
from stream.transport.topics import ensure_topics


def run_freshness_bench(base: Settings, rate: float = 5000, seconds: float = 30,
                        probes_per_s: float = 20, poll_ms: float = 5,
                        warm_s: float = 30, workers: int = 1) -> dict[str, Any]:
    settings = base.namespaced(f"fresh-{uuid.uuid4().hex[:6]}")
    ensure_topics(settings)
    fleet = [WorkerProcess(settings, settings.stack.state_dir / f"bench-freshness-worker-{n}.log")
             for n in range(workers)]
    reader = StateReader(settings.redis)
    try:
        with EventProducer(settings) as producer:
            warm_up(producer, reader, fleet)
            warm = int(rate * warm_s)
            total = warm + int(rate * seconds)
            probe_every = max(int(rate / probes_per_s), 1)
            probes = Probes(reader, poll_ms)
            started = time.monotonic()
            tick = max(int(rate / 100), 1)  # events per 10 ms tick
            for first in range(0, total, tick):
                due = started + first / rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                for n in range(first, min(first + tick, total)):
                    if n >= warm and n % probe_every == 0:
                        probes.send(producer, n)
                    else:
                        send_load(producer, settings.topics.clicks, n)
                producer._producer.poll(0)
            achieved = total / (time.monotonic() - started)  # over warm-up and measurement
        probes.finish()
    finally:
        for worker in fleet:
            worker.stop()
        clean_up(settings)
    latencies = probes.latencies()
    sent_at, seen_at = probes.sent_at, probes.seen_at
    first_sent = min((t for t, _ in sent_at.values()), default=0.0)
    if not latencies:
        raise RuntimeError("no probe was reflected in Redis; see the worker log")
    return {
        "benchmark": "freshness",
        "workers": workers,
        "target_rate": rate,
        "achieved_rate": round(achieved, 1),
        "seconds": seconds,
        "probes": len(sent_at),
        "reflected": len(latencies),
        "p50_ms": round(1000 * quantile(latencies, 0.50), 1),
        "p99_ms": round(1000 * quantile(latencies, 0.99), 1),
        "max_ms": round(1000 * latencies[-1], 1),
        "poll_resolution_ms": poll_ms,
        "recheck_share": RECHECK_SHARE,  # a probe waiting long: its age's share instead
        # Each probe's latency by when it was sent (s since the first): stalls show as ramps.
        "series": [[round(t - first_sent, 2), round(1000 * (seen_at[u] - t), 1)]
                   for u, (t, _) in sorted(sent_at.items(), key=lambda kv: kv[1][0])
                   if u in seen_at],
    }


def format_report(report: dict[str, Any]) -> str:
    return (f"freshness with {report['workers']} worker(s) at {report['achieved_rate']:,.0f} events/s "
            f"(target {report['target_rate']:,.0f})"
            f" for {report['seconds']} s: {report['reflected']}/{report['probes']} probes "
            f"reflected, p50 {report['p50_ms']} ms, p99 {report['p99_ms']} ms, max "
            f"{report['max_ms']} ms (poll resolution {report['poll_resolution_ms']} ms, or "
            f"{report['recheck_share']:.0%} of a latency beyond that)")
