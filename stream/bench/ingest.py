"""`recstream bench ingest`: three rates measured side by side in one run, on the same events.

1. producer: the SDK sending N synthetic-shop events (validated contracts, as the shop would).
2. worker: one `recstream worker` process draining those N events into Redis, timed from the
   first applied batch to the last (start-up and group join excluded, as they are one-off).
3. raw consume: bare consumers reading the same topics from the start and doing nothing else:
   librdkafka (confluent-kafka) and aiokafka (the client under Faust).

The worker's share of the raw aiokafka rate says what Faust, validation and Redis cost.
It runs against the stack the settings point at (`recstream stack up` first), in topics and keys
of its own that it deletes afterwards.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from itertools import islice
from typing import Any

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient

from stream.fleet import WorkerProcess
from stream.inspect import ingest_stats, sync_redis
from stream.kafka_config import client_config
from stream.producer import EventProducer
from stream.schemas import Event
from stream.settings import Settings
from stream.sources import open_source
from stream.topics import ensure_topics


def run_ingest_bench(base: Settings, events: int = 100_000) -> dict[str, Any]:
    settings = base.namespaced(f"bench-{uuid.uuid4().hex[:6]}")
    ensure_topics(settings)
    stream = _events(events)
    try:
        producer = _producer_rate(settings, stream)
        worker = _worker_rate(settings, len(stream))
        raw = _raw_consume_rate(settings, len(stream))
        raw_aio = asyncio.run(_aiokafka_consume_rate(settings, len(stream)))
    finally:
        _clean_up(settings)
    return {
        "benchmark": "ingest",
        "events": len(stream),
        "partitions": settings.partitions,
        "producer_events_per_s": producer,
        "worker_events_per_s": worker,
        "raw_consume_confluent_events_per_s": raw,
        "raw_consume_aiokafka_events_per_s": raw_aio,
        "worker_to_raw_aiokafka": round(worker / raw_aio, 3),
        "worker_to_raw_confluent": round(worker / raw, 3),
    }


def format_report(report: dict[str, Any]) -> str:
    return "\n".join([
        f"ingest benchmark, {report['events']:,} events, {report['partitions']} partitions",
        f"  producer SDK           {report['producer_events_per_s']:>12,.0f} events/s",
        f"  one worker -> Redis    {report['worker_events_per_s']:>12,.0f} events/s",
        f"  bare consumer (rdkafka){report['raw_consume_confluent_events_per_s']:>12,.0f} events/s",
        f"  bare consumer (aiokafka){report['raw_consume_aiokafka_events_per_s']:>11,.0f} events/s",
        f"  worker / bare aiokafka {report['worker_to_raw_aiokafka']:>12.3f}",
        f"  worker / bare rdkafka  {report['worker_to_raw_confluent']:>12.3f}",
    ])


def _events(n: int) -> list[Event]:
    """A realistic mix from the synthetic shop (catalogue, profiles, weather, clicks, purchases)."""
    shop = open_source("synthetic", None, seed=11, users=5_000, items=2_000, days=365)
    events = list(islice(shop, n))
    if len(events) < n:
        raise ValueError(f"the synthetic shop produced only {len(events)} events")
    return events


def _producer_rate(settings: Settings, events: list[Event]) -> float:
    with EventProducer(settings) as producer:
        started = time.perf_counter()
        producer.send_many(events)
        producer.flush()
        elapsed = time.perf_counter() - started
    return round(len(events) / elapsed, 1)


def _worker_rate(settings: Settings, expected: int, timeout_s: float = 600) -> float:
    client = sync_redis(settings)
    worker = WorkerProcess(settings, settings.state_dir / "bench-worker.log")
    try:
        deadline = time.monotonic() + timeout_s
        first_at, first_count = None, 0
        while True:
            applied = _applied(ingest_stats(settings, client))
            now = time.perf_counter()
            if first_at is None and applied > 0:
                first_at, first_count = now, applied
            if applied >= expected:
                break
            if not worker.alive:
                raise RuntimeError(f"the worker died; see {worker.log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker applied {applied}/{expected} in {timeout_s}s")
            time.sleep(0.02)
        assert first_at is not None
        return round((expected - first_count) / max(now - first_at, 1e-9), 1)
    finally:
        worker.stop()


def _applied(stats: dict[str, int]) -> int:
    return sum(stats.values())


def _raw_consume_rate(settings: Settings, expected: int) -> float:
    consumer = Consumer(client_config(settings, **{
        "group.id": f"{settings.app_id}-raw-{uuid.uuid4().hex[:6]}",
        "auto.offset.reset": "earliest", "enable.auto.commit": False}))
    consumer.subscribe(list(settings.event_topics))
    seen, first, started = 0, 0, None
    try:
        while seen < expected:
            batch = consumer.consume(num_messages=1000, timeout=1.0)
            batch = [m for m in batch if not m.error()]
            seen += len(batch)
            if batch and started is None:  # time from the first batch, as for the worker
                started, first = time.perf_counter(), seen
        return round((seen - first) / (time.perf_counter() - started), 1)
    finally:
        consumer.close()


async def _aiokafka_consume_rate(settings: Settings, expected: int) -> float:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        *settings.event_topics, bootstrap_servers=settings.kafka_bootstrap,
        group_id=f"{settings.app_id}-rawaio-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    seen, first, started = 0, 0, None
    try:
        while seen < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            seen += sum(len(records) for records in batches.values())
            if seen and started is None:
                started, first = time.perf_counter(), seen
        return round((seen - first) / (time.perf_counter() - started), 1)
    finally:
        await consumer.stop()


def _clean_up(settings: Settings) -> None:
    admin = AdminClient(client_config(settings))
    for future in admin.delete_topics(list(settings.event_topics) + [settings.topic_dlq]).values():
        try:
            future.result(timeout=30)
        except Exception:  # a topic that was never created is fine to miss
            pass
    client = sync_redis(settings)
    keys = list(client.scan_iter(f"{settings.key_prefix}:*", count=10_000))
    for start in range(0, len(keys), 10_000):
        client.delete(*keys[start:start + 10_000])
