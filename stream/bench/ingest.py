"""`recstream bench ingest`: rates measured side by side in one run, on the same events.

1. producer: the SDK sending N synthetic-shop events (validated contracts, as the shop would).
2. worker: one `recstream worker` process with everything on (state, dead letters, online
   learning), timed from the first applied batch until every event is applied and learned.
3. no-op worker: the same worker consuming and counting batches only (what the framework costs).
4. raw consume: bare consumers reading the same topics and doing nothing else: librdkafka
   (confluent-kafka) and aiokafka (the client under the worker).
5. parts: the per-event costs of validation, state writes (real Redis), learning (the user
   shard's models), the item steps (routed, encoded, applied by the item shards) and the
   broadcast back (changed vectors and trending parts, encoded and taken by the user shard, once
   per ``item_vector_publish_s`` at the target rate) measured in isolation in this process; the
   rate they allow is what a worker doing nothing else could reach.

It runs against the stack the settings point at (`recstream stack up` first), in topics and keys
of its own that it deletes afterwards.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from itertools import islice
from typing import Any

from confluent_kafka import Consumer

from stream.bench.namespace import clean_up
from stream.contracts.internal import Changes, decode_broadcast
from stream.contracts.records import Decoded, Record
from stream.contracts.schemas import ClickEvent, Event, PurchaseEvent, WeatherEvent
from stream.data.sources import open_source
from stream.ingest.ingestor import Ingestor
from stream.learning.context import ContextAnswers, ContextQuery
from stream.learning.core import LearnerCore
from stream.learning.interactions import Weather
from stream.learning.plan import Plan
from stream.ops.fleet import WorkerProcess, wait_for
from stream.settings import Settings
from stream.store.clients import async_redis
from stream.store.reads import StateReader
from stream.store.state import StateWriter
from stream.transport.kafka_config import client_config
from stream.transport.partitioner import partition_of
from stream.transport.producer import EventProducer
from stream.transport.topics import contracts_by_topic, ensure_topics

# The throughput target (events/s), which sets how many events a broadcast covers in the parts.
TARGET_RATE = 5_000


def run_ingest_bench(base: Settings, events: int = 100_000) -> dict[str, Any]:
    settings = base.namespaced(f"bench-{uuid.uuid4().hex[:6]}")
    ensure_topics(settings)
    stream = _events(events)
    interactions = sum(isinstance(e, (ClickEvent, PurchaseEvent)) for e in stream)
    try:
        producer = _producer_rate(settings, stream)
        worker = _worker_rate(settings, "full", len(stream), interactions)
        noop = _worker_rate(settings.replace(
            app_id=f"{settings.worker.app_id}-noop",
            key_prefix=f"{settings.redis.key_prefix}-noop", worker_noop=True), "noop", len(stream), 0)
        raw = _raw_consume_rate(settings, len(stream))
        raw_aio = asyncio.run(_aiokafka_consume_rate(settings, len(stream)))
        parts = asyncio.run(_parts(settings, stream))
    finally:
        clean_up(settings)
    allowed = 1e6 / sum(parts.values())
    return {
        "benchmark": "ingest",
        "events": len(stream),
        "interactions": interactions,
        "partitions": settings.kafka.partitions,
        "producer_events_per_s": producer,
        "worker_events_per_s": worker,
        "noop_worker_events_per_s": noop,
        "raw_consume_confluent_events_per_s": raw,
        "raw_consume_aiokafka_events_per_s": raw_aio,
        "part_costs_us_per_event": {k: round(v, 2) for k, v in parts.items()},
        "parts_allow_events_per_s": round(allowed, 1),
        "noop_to_raw_aiokafka": round(noop / raw_aio, 3),
        "worker_to_parts": round(worker / allowed, 3),
        "worker_to_raw_aiokafka": round(worker / raw_aio, 3),
    }


def format_report(report: dict[str, Any]) -> str:
    parts = ", ".join(f"{k} {v:.1f}" for k, v in report["part_costs_us_per_event"].items())
    return "\n".join([
        f"ingest benchmark, {report['events']:,} events ({report['interactions']:,} clicks and "
        f"purchases), {report['partitions']} partitions",
        f"  producer SDK              {report['producer_events_per_s']:>12,.0f} events/s",
        f"  worker, everything on     {report['worker_events_per_s']:>12,.0f} events/s",
        f"  worker, no-op handler     {report['noop_worker_events_per_s']:>12,.0f} events/s",
        f"  bare consumer (aiokafka)  {report['raw_consume_aiokafka_events_per_s']:>12,.0f} events/s",
        f"  bare consumer (rdkafka)   {report['raw_consume_confluent_events_per_s']:>12,.0f} events/s",
        f"  parts (us/event): {parts}",
        f"  parts allow               {report['parts_allow_events_per_s']:>12,.0f} events/s",
        f"  no-op / bare aiokafka     {report['noop_to_raw_aiokafka']:>12.3f}",
        f"  worker / parts allow      {report['worker_to_parts']:>12.3f}",
        f"  worker / bare aiokafka    {report['worker_to_raw_aiokafka']:>12.3f}",
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


def _worker_rate(settings: Settings, mode: str, expected: int, interactions: int,
                 timeout_s: float = 900) -> float:
    """Events per second of one worker, from its first applied batch to its last."""
    reader = StateReader(settings.redis)
    shards = range(settings.kafka.partitions)
    worker = WorkerProcess(settings, settings.stack.state_dir / f"bench-worker-{mode}.log")

    first: list[tuple[float, int]] = []  # (time, applied) of the first applied batch
    last = 0.0

    def done() -> bool:
        nonlocal last
        applied = reader.applied_total()
        learned = reader.learned(shards)
        # Learning is done when the item shards have applied every interaction's item step too.
        steps = reader.steps_applied(shards)
        last = time.perf_counter()
        if not first and applied > 0:
            first.append((last, applied))
        return applied >= expected and learned >= interactions and steps >= interactions

    try:
        wait_for(done, [worker], f"the {mode} worker draining {expected:,} events", timeout_s,
                 interval_s=0.02)
        started, first_count = first[0]
        return round((expected - first_count) / max(last - started, 1e-9), 1)
    finally:
        worker.stop()


async def _parts(settings: Settings, stream: list[Event]) -> dict[str, float]:
    """Per-event costs (us) of the worker's parts, each measured alone on the same events."""
    contracts = contracts_by_topic(settings)
    topics = {contract: topic for topic, contract in contracts.items()}
    records = [Record(topics[type(e)], 0, n, e.key.encode(), e.to_json())
               for n, e in enumerate(stream)]
    writer = StateWriter(async_redis(settings.redis), f"{settings.redis.key_prefix}-parts")
    ingestor = Ingestor(contracts, writer, None, settings.worker.max_message_bytes)  # type: ignore[arg-type]

    started = time.perf_counter()
    decoded = [ingestor.decode(record) for record in records]
    validate = time.perf_counter() - started

    async def nothing(fresh: list[Decoded]) -> None:
        return None

    started = time.perf_counter()
    for start in range(0, len(decoded), settings.worker.batch_size):
        await writer.apply(decoded[start:start + settings.worker.batch_size], nothing)
    state = time.perf_counter() - started
    await writer.client.aclose()

    # Learning as a worker runs it (the learner core): the user shard's half, then the item
    # steps applied by the item shards, whose changes come back by the broadcast.
    core = LearnerCore(settings.learning, settings.topics, settings.serving.exclude_purchased,
                       functools.partial(partition_of, partitions=settings.kafka.partitions))
    for partition in range(settings.kafka.partitions):
        core.adopt(partition, None, None)
    step_offsets = dict.fromkeys(range(settings.kafka.partitions), 0)
    # The broadcast runs every item_vector_publish_s: at the target rate, once per this many
    # events (publishing per batch would charge it several times what a worker pays).
    publish_every = max(int(settings.learning.item_vector_publish_s * TARGET_RATE),
                        settings.worker.batch_size)
    learn = steps = broadcast = 0.0
    for start in range(0, len(decoded), settings.worker.batch_size):
        batch = decoded[start:start + settings.worker.batch_size]
        began = time.perf_counter()
        _take_weather(core, batch)
        plan = core.learn(batch, caught_up=False)
        learned = time.perf_counter()
        records = []
        for topic, target, key, value in plan.messages:
            assert topic == settings.topics.item_steps and target is not None
            records.append(Record(topic, target, step_offsets[target], key, value))
            step_offsets[target] += 1
        core.apply_steps(records)
        applied = time.perf_counter()
        end = start + settings.worker.batch_size
        if end // publish_every > start // publish_every or end >= len(decoded):
            core.receive(_changes(settings, core.publish()))
        learn += learned - began
        steps += applied - learned
        broadcast += time.perf_counter() - applied
    n = len(stream)
    return {"validate": 1e6 * validate / n, "state": 1e6 * state / n, "learn": 1e6 * learn / n,
            "item_steps": 1e6 * steps / n, "broadcast": 1e6 * broadcast / n}


def _take_weather(core: LearnerCore, batch: list[Decoded]) -> None:
    """The batch's weather as the worker's context read would bring it (from Redis there)."""
    reports: dict[str, list[tuple[float, Weather]]] = {}
    for decoded in batch:
        if isinstance(decoded.event, WeatherEvent):
            event = decoded.event
            reports.setdefault(event.location, []).append(
                (event.ts.timestamp() * 1000, Weather(event.condition.value, event.temp_c)))
    if reports:
        query = ContextQuery(users=[], weather=dict.fromkeys(reports, -1.0), items=[])
        core.take_context(query, ContextAnswers({}, reports, {}), time.monotonic())


def _changes(settings: Settings, plan: Plan) -> Changes:
    """The broadcast's messages as a worker's reader decodes them."""
    return decode_broadcast((Record(topic, 0, 0, key, value)
                             for topic, _, key, value in plan.messages),
                            settings.topics.item_vectors)


def _raw_consume_rate(settings: Settings, expected: int) -> float:
    consumer = Consumer(client_config(settings.kafka, **{
        "group.id": f"{settings.worker.app_id}-raw-{uuid.uuid4().hex[:6]}",
        "auto.offset.reset": "earliest", "enable.auto.commit": False}))
    consumer.subscribe(list(settings.topics.events))
    seen, first, started = 0, 0, None
    try:
        while seen < expected:
            batch = consumer.consume(num_messages=1000, timeout=1.0)
            batch = [m for m in batch if not m.error()]
            seen += len(batch)
            if batch and started is None:  # time from the first batch, as for the worker
                started, first = time.perf_counter(), seen
        assert started is not None
        return round((seen - first) / (time.perf_counter() - started), 1)
    finally:
        consumer.close()


async def _aiokafka_consume_rate(settings: Settings, expected: int) -> float:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        *settings.topics.events, bootstrap_servers=settings.kafka.bootstrap,
        group_id=f"{settings.worker.app_id}-rawaio-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    seen, first, started = 0, 0, None
    try:
        while seen < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            seen += sum(len(records) for records in batches.values())
            if seen and started is None:
                started, first = time.perf_counter(), seen
        assert started is not None
        return round((seen - first) / (time.perf_counter() - started), 1)
    finally:
        await consumer.stop()

