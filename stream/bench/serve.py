"""`recstream bench serve`: the Kafka round trip of a recommendation request under load.

``workers`` worker processes (one by default; one per core is how a fleet runs) answer
requests at each of ``rates`` (requests/s, ``seconds`` each) while clicks
from 20,000 users stream in at ``events_rate`` events/s, each request scoring ``candidates``
candidates. The same phases then run through as many workers that do no work (``worker_noop``: it
counts events and answers every request at once with no items): the floor of Kafka, the consume
loop and the client, measured in the same run on the same machine, so the ratio of the two is
what recstream's own work adds. Each phase also reports how busy the whole machine was: where
it had no core to spare, the latencies include waiting for one.

Latency is the client's: from the producer call to the reply reaching the client's future
(one shared reply consumer, as a service would run it).
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import uuid
from concurrent.futures import Future
from typing import Any

from stream.bench import machine
from stream.bench.load import USERS, Probes, quantile, send_load, warm_up
from stream.bench.namespace import clean_up
from stream.contracts.serving import RecommendationReply
from stream.ops.fleet import WorkerProcess
from stream.settings import Settings
from stream.store.reads import StateReader
from stream.transport.client import RecommendationClient
from stream.transport.producer import EventProducer
from stream.transport.topics import ensure_topics

TIMEOUT_S = 5.0
# What the worker says of each reply (stream/serving/server.py): how long the request waited to
# be read, the batch's reads from Redis and its ranking, and the whole batch it was answered in
# (reads, ranking, rules).
# An echo reply says nothing (0): its round trip is all Kafka and the loop.
WORKER_TIMINGS = ("queued", "read", "rank", "total")
# Probe clicks per second in the load: the state's freshness while requests are answered (a
# worker that answered fast by starving its learning would show here).
PROBES_PER_S = 5
# A phase starts once no probe click waits longer than this to be reflected (see _settle).
SETTLED_S = 1.0
SETTLE_TIMEOUT_S = 180.0
# A worker process using this much of a core was saturated (its event loop never waited).
SATURATED_CORES = 0.9


def run_serve_bench(base: Settings, rates: tuple[int, ...] = (0, 100, 500, 1000),
                    seconds: float = 15, events_rate: float = 2000, candidates: int = 500,
                    warm_s: float = 15, workers: int = 1) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    systems = {
        "recstream": base.namespaced(f"serve-{tag}").replace(candidates=candidates),
        "echo": base.namespaced(f"echo-{tag}").replace(worker_noop=True),
    }
    results = {name: _phases(settings, rates, seconds, events_rate, warm_s, workers)
               for name, settings in systems.items()}
    ratios = {str(rate): round(results["recstream"][str(rate)]["p99_ms"]
                               / max(results["echo"][str(rate)]["p99_ms"], 1e-9), 2)
              for rate in rates if rate > 0}
    return {"benchmark": "serve", "rates": list(rates), "seconds_per_rate": seconds,
            "events_rate": events_rate, "candidates": candidates, "workers": workers,
            "cpus": machine.cores(), "systems": results,
            "p99_ratio_to_echo": ratios,
            "cpu_per_request_ms": {name: _cpu_per_request(phases, workers)
                                   for name, phases in results.items()}}


def _phases(settings: Settings, rates: tuple[int, ...], seconds: float, events_rate: float,
            warm_s: float, workers: int) -> dict[str, Any]:
    """Start the workers and the click load, then measure each rate in turn."""
    ensure_topics(settings)
    fleet = [WorkerProcess(settings, settings.stack.state_dir / f"bench-serve-worker-{n}.log")
             for n in range(workers)]
    stop = threading.Event()
    probes: Probes | None = None
    try:
        with EventProducer(settings) as producer:
            if not settings.worker.noop:  # an echo worker keeps no state to probe
                reader = StateReader(settings.redis)
                warm_up(producer, reader, fleet)
                probes = Probes(reader)
            load = threading.Thread(target=_load, args=(producer, settings, events_rate, stop,
                                                        probes), daemon=True)
            load.start()
            results: dict[str, Any] = {}
            windows: dict[str, tuple[float, float]] = {}
            with RecommendationClient(settings, timeout_s=TIMEOUT_S) as client:
                _ask(client, rate=50, seconds=warm_s)  # users learned, the reply path warm
                for rate in rates:
                    settled_s = _settle(probes)
                    began, cpu = time.monotonic(), sum(w.cpu_seconds() for w in fleet)
                    busy = machine.busy_seconds()
                    results[str(rate)] = (_ask(client, rate, seconds) if rate > 0
                                          else _idle(seconds))
                    results[str(rate)]["settled_s"] = settled_s
                    windows[str(rate)] = (began, time.monotonic())
                    # Cores the worker processes used: near 1 each, they were saturated.
                    elapsed = time.monotonic() - began
                    results[str(rate)]["worker_cores"] = round(
                        (sum(w.cpu_seconds() for w in fleet) - cpu) / elapsed, 2)
                    results[str(rate)]["machine_cores"] = round(
                        (machine.busy_seconds() - busy) / elapsed, 2)
            stop.set()
            load.join()
        if probes is not None:
            probes.finish()
            for phase, (began, ended) in windows.items():
                results[phase]["freshness_ms"] = _freshness(probes.latencies(began, ended))
        for worker in fleet:
            if not worker.alive:
                raise RuntimeError(f"a worker died; see {worker.log}")
        return results
    finally:
        stop.set()
        for worker in fleet:
            worker.stop()
        clean_up(settings)


def _load(producer: EventProducer, settings: Settings, rate: float,
          stop: threading.Event, probes: Probes | None) -> None:
    """Clicks at ``rate`` per second in 10 ms ticks until stopped, ``PROBES_PER_S`` of them
    probes: how fresh the state stays while requests are answered."""
    started, n, tick = time.monotonic(), 0, max(int(rate / 100), 1)
    probe_every = max(int(rate / PROBES_PER_S), 1)
    while not stop.is_set():
        delay = started + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        for _ in range(tick):
            if probes is not None and n % probe_every == 0:
                probes.send(producer, n)
            else:
                send_load(producer, settings.topics.clicks, n)
            n += 1
        producer._producer.poll(0)


def _settle(probes: Probes | None) -> float | None:
    """Wait until the workers have caught up with the clicks (no probe waits longer than
    ``SETTLED_S`` to be reflected), ``SETTLE_TIMEOUT_S`` at most, so that a phase does not start
    behind a backlog the warm-up or the phase before left (between runs of the same code it
    moved p99 at 100/s from 0.2 to 0.5 s, and the state's freshness from 1 to 40 s); how long
    it waited, None for workers without state to probe. A phase that starts behind still runs:
    its wait is reported as the timeout's."""
    if probes is None:
        return None
    began = time.monotonic()
    while (not probes.caught_up(SETTLED_S, since=began)
           and time.monotonic() - began < SETTLE_TIMEOUT_S):
        time.sleep(0.1)
    return round(time.monotonic() - began, 1)


def _cpu_per_request(phases: dict[str, Any], workers: int) -> dict[str, dict[str, Any]]:
    """The workers' CPU time per request at each rate, beyond what the idle phase's learning
    used: what a request costs, so how many a worker process (one core at most) can answer
    while it learns. A phase whose workers were near a core each is saturated: it used all it
    had, and its figure is a floor (empty without an idle phase to subtract)."""
    idle = phases.get("0")
    if idle is None:
        return {}
    return {rate: {"ms": round(1000 * (phase["worker_cores"] - idle["worker_cores"])
                               / phase["achieved_rate"], 2),
                   "saturated": phase["worker_cores"] >= SATURATED_CORES * workers}
            for rate, phase in phases.items() if phase["requests"]}


def _idle(seconds: float) -> dict[str, Any]:
    """A phase of no requests (rate 0): what learning the load costs alone. It has no
    latencies to report."""
    time.sleep(seconds)
    return {"requests": 0}


def _freshness(latencies: list[float]) -> dict[str, float]:
    """Click-to-Redis latency of the probes sent during a phase (see ``bench freshness``)."""
    if not latencies:
        return {"reflected": 0}
    return {"reflected": len(latencies), "p50": round(1000 * quantile(latencies, 0.50), 1),
            "p99": round(1000 * quantile(latencies, 0.99), 1),
            "max": round(1000 * latencies[-1], 1)}


def _ask(client: RecommendationClient, rate: int, seconds: float) -> dict[str, Any]:
    """Requests at ``rate`` per second for ``seconds``, each for a user of the load; the
    latency of each from its send to its reply."""
    total = int(rate * seconds)
    latencies: list[float] = []
    errors: list[str] = []
    worker: dict[str, list[float]] = {part: [] for part in WORKER_TIMINGS}
    lock = threading.Lock()

    def done(sent: float, future: Future[RecommendationReply]) -> None:
        elapsed = time.perf_counter() - sent
        with lock:
            exc = future.exception()
            if exc is not None:
                errors.append(type(exc).__name__)
            elif (reply := future.result()).error is not None:
                errors.append(reply.error.code)
            else:
                latencies.append(elapsed)
                for part, values in worker.items():
                    values.append(reply.timings_ms.get(part, 0.0))

    started = time.perf_counter()
    futures = []
    for n in range(total):
        delay = started + n / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        sent = time.perf_counter()
        future = client.submit(f"u{(n * 7919) % USERS}", 10)
        future.add_done_callback(functools.partial(done, sent))
        futures.append(future)
    achieved = total / (time.perf_counter() - started)
    for future in futures:
        with contextlib.suppress(Exception):  # counted by done()
            future.result(timeout=TIMEOUT_S * 2)
    latencies.sort()
    if not latencies:
        raise RuntimeError(f"no request was answered at {rate}/s: {len(errors)} errors "
                           f"({', '.join(sorted(set(errors)))})")
    return {"requests": total, "achieved_rate": round(achieved, 1),
            "answered": len(latencies), "errors": len(errors),
            "error_kinds": sorted(set(errors)),
            "p50_ms": round(1000 * quantile(latencies, 0.50), 2),
            "p99_ms": round(1000 * quantile(latencies, 0.99), 2),
            "p999_ms": round(1000 * quantile(latencies, 0.999), 2),
            "max_ms": round(1000 * latencies[-1], 2),
            "worker_ms": {part: {"p50": round(quantile(sorted(values), 0.50), 2),
                                 "p99": round(quantile(sorted(values), 0.99), 2)}
                          for part, values in worker.items()}}


def format_report(report: dict[str, Any]) -> str:
    lines = [f"serve: {report['candidates']} candidates per request, clicks at "
             f"{report['events_rate']:,.0f}/s, {report['seconds_per_rate']} s per rate, "
             f"{report['workers']} worker(s)",
             f"{'system':<10}{'rate':>6}{'achieved':>9}{'answered':>9}{'errors':>7}"
             f"{'p50 ms':>9}{'p99 ms':>9}{'p99.9 ms':>9}   "
             f"worker p50/p99 ms: {', '.join(WORKER_TIMINGS)}; CPU of the workers, "
             f"of the machine ({report['cpus']} cores)"]
    for name, phases in report["systems"].items():
        for rate, r in phases.items():
            if not r["requests"]:  # learning alone
                lines.append(f"{name:<10}{rate:>6}{'-':>9}{'-':>9}{'-':>7}{'-':>9}{'-':>9}"
                             f"{'-':>9}   {r['worker_cores']} cores, {r['machine_cores']}")
                continue
            worker = ", ".join(f"{t['p50']:.1f}/{t['p99']:.1f}" for t in r["worker_ms"].values())
            lines.append(f"{name:<10}{rate:>6}{r['achieved_rate']:>9.0f}{r['answered']:>9}"
                         f"{r['errors']:>7}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}"
                         f"{r['p999_ms']:>9.1f}   {worker}; {r['worker_cores']} cores, "
                         f"{r['machine_cores']}")
    waits = [f"{rate}/s {r['settled_s']} s" for rate, r in report["systems"]["recstream"].items()
             if r.get("settled_s") is not None]
    if waits:
        lines.append(f"each phase began once recstream's state was within {SETTLED_S:.0f} s of "
                     f"the clicks (at most {SETTLE_TIMEOUT_S:.0f} s): waited " + ", ".join(waits))
    lines.append("p99 recstream / echo: " + ", ".join(
        f"{rate}/s {ratio}x" for rate, ratio in report["p99_ratio_to_echo"].items()))
    for name, costs in report["cpu_per_request_ms"].items():
        if costs:
            lines.append(f"{name}'s CPU per request beyond the idle phase's: " + ", ".join(
                f"{rate}/s {c['ms']} ms" + (" (saturated: at least)" if c["saturated"] else "")
                for rate, c in costs.items()))
    busy = [f"{name} {rate}/s ({r['machine_cores']} of {report['cpus']} cores)"
            for name, phases in report["systems"].items() for rate, r in phases.items()
            if machine.saturated(r["machine_cores"], report["cpus"])]
    if busy:
        lines.append("the machine had no core to spare in " + ", ".join(busy)
                     + ": those latencies include waiting for a core")
    lines.append("recstream's state meanwhile, click to Redis (probes reflected, p50/p99/max ms): "
                 + ", ".join(f"{rate}/s {f['reflected']}, {f.get('p50', '-')}/{f.get('p99', '-')}"
                             f"/{f.get('max', '-')}"
                             for rate, r in report["systems"]["recstream"].items()
                             if (f := r.get("freshness_ms")) is not None))
    return "\n".join(lines)
