"""The worker's hot path: a batch consumer service inside the Faust worker.

Faust's agents hand events over one at a time through its stream machinery; measured here, a
no-op agent reached ~11k events/s against ~320k/s for a bare aiokafka consumer of the same topics.
So the worker consumes with aiokafka's ``getmany`` (a batch per call) and hands whole batches to
the :class:`~stream.ingest.ingestor.Ingestor`. The service still lives in the Faust worker (its lifecycle,
signals, logging and web views).

Where a partition resumes is decided by the state, not by Kafka's committed offset: on assignment
the consumer seeks to the next offset stored with the state in Redis (DESIGN decision 3), so a
batch that failed is read again, and Kafka's commits only serve lag monitoring (KEDA, operators).
A batch that fails (Redis or the broker away) is retried with backoff, never skipped.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    NotEnoughReplicasError,
    NotLeaderForPartitionError,
    RequestTimedOutError,
)
from mode import Service

from stream.contracts.internal import Changes
from stream.contracts.records import Decoded, Record
from stream.settings import Settings
from stream.transport.broadcast import VectorReader
from stream.transport.fetched import (
    as_record,
    commit_offsets,
    fetched_to_end,
    first_records,
    known_ends,
)
from stream.transport.kafka_config import aiokafka_config
from stream.transport.request_lane import RequestLane, Serving

log = logging.getLogger(__name__)
T = TypeVar("T")

# Errors worth waiting out: the broker (or, from the parts, the store) is briefly away. Anything
# else is a bug and stops the worker (its partitions move to a healthy one), never skipped.
TRANSIENT = (ConnectionError, asyncio.TimeoutError,
             KafkaConnectionError, KafkaTimeoutError, NotEnoughReplicasError,
             RequestTimedOutError, NotLeaderForPartitionError)
MAX_BACKOFF_S = 5.0
# A batch slower than the freshness budget delays every event behind it past it: say so.
SLOW_BATCH_S = 1.0


class Ingesting(Protocol):
    """The ingestor as the consumer drives it (stream/ingest/)."""

    async def stored_offsets(self, partitions: Sequence[tuple[str, int]]
                             ) -> dict[tuple[str, int], int]: ...

    async def process(self, records: Sequence[Record]) -> list[Decoded]: ...


class Learning(Protocol):
    """The learner as the consumer drives it (stream/learning/shell.py)."""

    async def assign(self, partitions: Sequence[int]) -> dict[tuple[str, int], int]: ...

    async def revoke(self, partitions: Sequence[int]) -> None: ...

    async def learn(self, batch: Sequence[Decoded], caught_up: bool, steps: Sequence[Record],
                    commit: Callable[[], Awaitable[None]] | None,
                    ends: Mapping[tuple[str, int], int] | None = None,
                    slice_size: int | None = None) -> int: ...

    async def idle(self) -> int: ...

    def read_first(self) -> set[tuple[str, int]]: ...

    async def receive(self, changes: Changes) -> None: ...

    async def snapshot_all(self) -> None: ...


class Parts(Protocol):
    """What a worker runs on (built by stream/ops/worker.py): opened before the first batch,
    closed after the last."""

    @property
    def ingestor(self) -> Ingesting: ...

    @property
    def learner(self) -> Learning | None: ...

    @property
    def server(self) -> Serving | None:
        """Answers the requests of the partitions this worker learns (None: it learns none)."""

    @property
    def transient(self) -> tuple[type[BaseException], ...]:
        """The store's errors worth waiting out (Redis away), beside the broker's."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise unless the store answers."""


class _SeekToStoredOffsets(ConsumerRebalanceListener):
    def __init__(self, service: BatchConsumerService) -> None:
        self.service = service

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        """The state needs no flush (a batch is applied before the next is fetched); the
        learner snapshots the shards it gives up, for their next owner."""
        await self.service.revoke(list(revoked))

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        await self.service.seek_to_stored(list(assigned))


class BatchConsumerService(Service):
    """Consumes the event topics in batches and applies each batch through the ingestor."""

    def __init__(self, settings: Settings, parts: Callable[[], Parts], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self._make_parts = parts
        self.parts: Parts | None = None
        self.ingestor: Ingesting | None = None
        self.learner: Learning | None = None
        self.server: Serving | None = None
        self._transient: tuple[type[BaseException], ...] = ()
        # For readiness: when the loop last came round, and what a batch waits out now.
        self.loop_at = time.monotonic()
        self.waiting_on: str | None = None
        self.vectors: VectorReader | None = None
        self.learned = 0
        self.consumer: AIOKafkaConsumer | None = None
        self.batches = 0
        self.records = 0
        self.requests = RequestLane(settings)  # read and answered beside learning

    async def on_start(self) -> None:
        s = self.settings
        self.parts = self._make_parts()
        await self.parts.open()
        self.ingestor, self.learner = self.parts.ingestor, self.parts.learner
        self.server = self.parts.server
        self._transient = self.parts.transient
        topics = list(s.topics.events)
        if self.learner is not None:
            self.vectors = VectorReader(s)
            await self.vectors.start()
            topics.append(s.topics.item_steps)
        if self.server is not None:
            # Same group, range assignment: request partition p comes with shard p's events.
            topics.append(s.topics.requests)
        self.consumer = _consumer(s)
        self.consumer.subscribe(topics, listener=_SeekToStoredOffsets(self))
        await self.consumer.start()
        _without_prefetch_backoff(self.consumer)

    async def on_stop(self) -> None:
        if self.learner is not None:
            await self.learner.snapshot_all()
        if self.consumer is not None:
            await self.consumer.stop()
        if self.vectors is not None:
            await self.vectors.stop()
        if self.parts is not None:
            await self.parts.close()

    async def seek_to_stored(self, partitions: list[TopicPartition]) -> None:
        assert self.consumer is not None and self.ingestor is not None
        # Item steps and requests are not state: the learner, and Kafka's commits, say where
        # they resume.
        own = {self.settings.topics.item_steps, self.settings.topics.requests}
        stored = await self._retrying(functools.partial(
            self.ingestor.stored_offsets, [(tp.topic, tp.partition) for tp in partitions
                                           if tp.topic not in own]))
        if self.learner is not None:
            # A restored shard may cover less than the state: resume where the laggard stands.
            # The item steps are the learner's alone: its item shards say where they stand.
            covered = await self._retrying(functools.partial(
                self.learner.assign, sorted({tp.partition for tp in partitions})))
            for tp, offset in covered.items():
                if tp[0] == self.settings.topics.item_steps:
                    stored[tp] = offset
                elif tp in stored or offset > 0:
                    stored[tp] = min(stored.get(tp, 0), offset)
        for tp in partitions:
            resume = stored.get((tp.topic, tp.partition))
            if resume is not None:
                self.consumer.seek(tp, resume)
        log.info("assigned %s", ", ".join(f"{tp.topic}[{tp.partition}]@"
                                          f"{stored.get((tp.topic, tp.partition), 'start')}"
                                          for tp in partitions))

    async def revoke(self, partitions: list[TopicPartition]) -> None:
        if self.learner is not None:
            await self._retrying(functools.partial(
                self.learner.revoke, sorted({tp.partition for tp in partitions})))

    @Service.task
    async def _consume(self) -> None:
        assert self.consumer is not None and self.ingestor is not None
        timeout_ms = int(self.settings.worker.batch_max_age_s * 1000)
        steps_topic = self.settings.topics.item_steps
        requests_topic = self.settings.topics.requests
        while not self.should_stop:
            self.loop_at = time.monotonic()
            # Item steps first: behind a backlog of events (a replay, a restart) they would
            # otherwise wait for it to drain, and the user shards would learn without the item
            # vectors the steps make. aiokafka drains its buffer partition by partition.
            # Requests are not read here but by the request lane, as soon as they come.
            assigned = [tp for tp in self.consumer.assignment() if tp.topic != requests_topic]
            if not assigned:  # getmany() of no partitions would read them all, requests too
                await asyncio.sleep(self.settings.worker.batch_max_age_s)
                continue
            step_partitions = [tp for tp in assigned if tp.topic == steps_topic]
            fetched = {}
            if step_partitions:
                fetched = await self.consumer.getmany(*step_partitions, timeout_ms=0,
                                                      max_records=self.settings.worker.batch_size)
            budget = self.settings.worker.batch_size
            if self.learner is not None:  # then what it reads first (see first_records), in budget
                for tp, messages in (await first_records(self.consumer, assigned, self.learner,
                                                       budget)).items():
                    fetched.setdefault(tp, []).extend(messages)
                    budget -= len(messages)
            more = await self.consumer.getmany(
                *assigned, timeout_ms=0 if fetched else timeout_ms,
                max_records=budget) if budget > 0 else {}
            room = budget - sum(len(messages) for messages in more.values())
            if self.settings.worker.batch_linger_s and (more or fetched) and room > 0:
                await asyncio.sleep(self.settings.worker.batch_linger_s)  # few: wait for more
                for tp, messages in (await self.consumer.getmany(
                        *assigned, timeout_ms=0, max_records=room)).items():
                    more.setdefault(tp, []).extend(messages)
            for tp, messages in more.items():
                fetched.setdefault(tp, []).extend(messages)
            started = time.perf_counter()
            if not fetched and self.learner is not None:
                # No events: close baskets, broadcast the changed vectors.
                self.learned += await self._retrying(self.learner.idle)
            if not fetched:
                continue
            records = [as_record(m) for messages in fetched.values() for m in messages]
            steps = [r for r in records if r.topic == steps_topic]
            events = [r for r in records if r.topic != steps_topic]
            decoded = await self._retrying(functools.partial(self.ingestor.process, events))
            ingested = time.perf_counter()
            if self.learner is not None:  # its checkpoint commits the offsets last
                caught_up = fetched_to_end(self.consumer, more)
                ends = known_ends(self.consumer, assigned, self.settings.topics.user_keyed)
                # While requests come, learning yields to them every few events.
                slice_size = (self.settings.worker.serving_batch_size if self.requests.recent()
                              else None)
                self.learned += await self._retrying(functools.partial(
                    self.learner.learn, decoded, caught_up, steps,
                    functools.partial(commit_offsets, self.consumer, fetched), ends, slice_size))
            else:
                await commit_offsets(self.consumer, fetched)
            if time.perf_counter() - started > SLOW_BATCH_S:
                log.warning("slow batch: %d records (%d item-step messages) took %.0f ms: "
                            "state %.0f ms, learning %.0f ms", len(records),
                            len(steps), 1000 * (time.perf_counter() - started),
                            1000 * (ingested - started), 1000 * (time.perf_counter() - ingested))
            self.batches += 1
            self.records += len(records)

    @Service.task
    async def _serve(self) -> None:
        if self.server is not None:
            await self.requests.run(self)

    @Service.task
    async def _follow_item_vectors(self) -> None:
        """The broadcast: every item's latest vector and counts, into this worker's user shards."""
        if self.vectors is None or self.learner is None:
            return
        while not self.should_stop:
            changes = await self.vectors.poll()
            if changes:
                await self.learner.receive(changes)

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        backoff = 0.1
        while True:
            try:
                result = await call()
                self.waiting_on = None
                return result
            except (*TRANSIENT, *self._transient) as exc:
                if self.should_stop:
                    raise
                self.waiting_on = repr(exc)
                self.loop_at = time.monotonic()  # waiting, not stuck
                log.warning("batch failed, retrying in %.1fs: %r", backoff, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)


def _consumer(s: Settings) -> AIOKafkaConsumer:
    """The worker's consumer of its events, item steps and requests, before it subscribes."""
    return AIOKafkaConsumer(
        group_id=s.worker.app_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=s.worker.batch_size,
        # Range assignment gives a member the same partition numbers of every topic (they
        # all have `partitions` partitions): shard p's clicks, purchases and impressions
        # reach one worker, as DESIGN decision 2 needs. Round robin would split them.
        partition_assignment_strategy=(RangePartitionAssignor,),
        session_timeout_ms=int(s.worker.session_timeout_s * 1000),
        heartbeat_interval_ms=int(s.worker.session_timeout_s * 1000 / 3),
        # Large fetches keep the broker round trips per batch low.
        max_partition_fetch_bytes=4 * 1024 * 1024,
        # aiokafka leaves partitions with buffered records out of the next fetch, and sends
        # no new fetch to a broker while one is in flight. The in-flight fetch then holds
        # only quiet partitions (items, weather, item steps), and the broker keeps it until
        # fetch_max_wait_ms: at the default 500 ms, busy partitions that drained meanwhile
        # waited for it. Measured: probes at 500-900 ms amid ones at 50 ms. See
        # _without_prefetch_backoff for why the broker also waits for fetch_min_bytes.
        fetch_max_wait_ms=int(s.worker.fetch_max_wait_s * 1000),
        fetch_min_bytes=s.worker.fetch_min_bytes,
        **aiokafka_config(s.kafka),
    )


def _without_prefetch_backoff(consumer: AIOKafkaConsumer) -> None:
    """Let the consumer fetch from a broker while records it fetched are still untaken.

    aiokafka sends no fetch to a broker while any of its partitions holds records fetched less
    than the fetcher's ``prefetch_backoff`` (0.1 s) ago that the consumer has not taken. The
    learning loop lingers for more events and learns in slices, so event records sat in that
    buffer, and a request on the same broker waited for the next fetch: up to 100 ms, at every
    rate (``recstream bench serve``: p50 at 100 requests/s 79 to 104 ms, of which 40 to 53 ms
    before the worker read it). Without the backoff the next fetch goes out at once for the
    partitions that hold nothing; ``fetch_min_bytes`` and ``fetch_max_wait_ms`` make the broker
    hold it until a few dozen events gathered or 10 ms passed, so a request waits at most that
    long and fetches do not come back to back (the backoff at 0 with ``fetch_min_bytes`` 1 was
    measured before: fetches crowded the event loop). The backoff is an argument of aiokafka's
    fetcher, which the consumer builds in ``start()``, not of the consumer: an aiokafka without
    it serves as before, with a warning.
    """
    fetcher = getattr(consumer, "_fetcher", None)
    if fetcher is None or not hasattr(fetcher, "_prefetch_backoff"):
        log.warning("aiokafka's fetcher has no prefetch backoff to turn off: requests may "
                    "wait up to 100 ms for a fetch")
        return
    fetcher._prefetch_backoff = 0.0


async def readiness(service: BatchConsumerService) -> dict[str, Any]:
    """Whether a worker does its work now: the consume loop comes round, no batch is waiting
    out an outage, and Redis and the Kafka brokers answer (each within 2 s)."""
    checks: dict[str, str] = {}
    stalled_s = time.monotonic() - service.loop_at
    checks["consumer"] = ("ok" if stalled_s < max(10.0, 50 * service.settings.worker.batch_max_age_s)
                          else f"the consume loop has not come round for {stalled_s:.0f} s")
    checks["batches"] = "ok" if service.waiting_on is None else f"retrying: {service.waiting_on}"
    for name, probe in (("redis", service.parts.ping if service.parts else None),
                        ("kafka", service.consumer.topics if service.consumer else None)):
        try:
            if probe is None:
                raise RuntimeError("not started")
            await asyncio.wait_for(probe(), timeout=2.0)  # kafka: a metadata request
            checks[name] = "ok"
        except Exception as exc:  # any failure is the answer, not an error of the probe
            checks[name] = repr(exc) or type(exc).__name__
    return {"ready": all(v == "ok" for v in checks.values()), "checks": checks}
