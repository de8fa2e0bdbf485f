"""The worker's requests: read as soon as they come and answered beside the learning loop.

Read in the learning loop, a request waited for the batch of events fetched before it to be
learned and checkpointed (the broker's acknowledgements, Redis writes, a snapshot now and then),
and to keep that wait short, batches were cut to 64 events while requests came, which held
learning (by its round trips per batch) below 2,000 clicks/s: at 100 requests/s the state fell
3.6 s behind the clicks at the median (`recstream bench serve`, docs/architecture.md).
Here a request waits only for the step of learning that holds the event loop: while requests
come, a batch is learned in slices of ``serving_batch_size`` events with a turn of the loop
between. Every shard is whole at each await, so a reply reflects every event learned before it,
none in part. (Learning that also waited between slices while requests were being answered was
measured: it fell behind the clicks, 19 s at p99 at 100 requests/s, and replies were no faster.)

The next requests are read while the last replies are still on their way to the broker (up to
``BATCHES_IN_FLIGHT`` batches); offsets are committed in the order read, each batch's once it
is answered: a crash in between answers its requests again, never not at all (a client takes
the first reply per request id).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from stream.contracts.records import Record
from stream.settings import Settings
from stream.transport.fetched import as_record, commit_offsets

T = TypeVar("T")

# How often the lane looks for fetched requests: at most this much is added to a request's wait.
POLL_S = 0.002
# Batches of requests answered at once: the next is read while the last replies are being sent.
BATCHES_IN_FLIGHT = 4
# Requests this recent make learning go in slices (``serving_batch_size``).
RECENT_S = 1.0


class Serving(Protocol):
    """The request path as the lane drives it (stream/serving/server.py)."""

    async def answer(self, records: Sequence[Record]) -> Any: ...


class Worker(Protocol):
    """The consumer service as the lane uses it (stream/transport/consumer.py)."""

    consumer: AIOKafkaConsumer | None
    server: Serving | None

    @property
    def should_stop(self) -> bool: ...

    def add_future(self, coro: Awaitable) -> asyncio.Future: ...

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T: ...


class RequestLane:
    """Reads the worker's request partitions and answers them; says when requests last came."""

    def __init__(self, settings: Settings) -> None:
        self.topic = settings.topics.requests
        self.max_records = settings.worker.batch_size
        self.wait_s = settings.worker.batch_max_age_s
        self.asked_at = float("-inf")

    def recent(self) -> bool:
        """Whether requests came within the last ``RECENT_S``."""
        return time.monotonic() - self.asked_at < RECENT_S

    async def run(self, worker: Worker) -> None:
        """Read the assigned request partitions and answer what comes, until the worker stops."""
        assert worker.consumer is not None and worker.server is not None
        consumer, server = worker.consumer, worker.server
        slots = asyncio.Semaphore(BATCHES_IN_FLIGHT)
        previous: asyncio.Future | None = None
        while not worker.should_stop:
            partitions = [tp for tp in consumer.assignment() if tp.topic == self.topic]
            if not partitions:  # getmany() of no partitions would read them all
                await asyncio.sleep(self.wait_s)
                continue
            # What is fetched already, without waiting in the fetcher: a lane waiting there
            # beside the learning loop changed which topic's records the loop was handed first
            # (an evaluation's worker counted up to 5% fewer targets than its in-process twin).
            asked = await consumer.getmany(*partitions, timeout_ms=0,
                                           max_records=self.max_records)
            if not asked:
                await asyncio.sleep(POLL_S)
                continue
            self.asked_at = time.monotonic()
            await slots.acquire()
            answer = functools.partial(server.answer, [as_record(m) for ms in asked.values()
                                                       for m in ms])
            previous = worker.add_future(self._answer(worker, consumer, answer, asked,
                                                      previous, slots))

    async def _answer(self, worker: Worker, consumer: AIOKafkaConsumer,
                      answer: Callable[[], Awaitable[Any]],
                      asked: dict[TopicPartition, list[ConsumerRecord]],
                      previous: asyncio.Future | None, slot: asyncio.Semaphore) -> None:
        try:
            await worker._retrying(answer)
        finally:
            slot.release()
        if previous is not None:
            await asyncio.wait([previous])  # its offsets first (a failure is the worker's to report)
        await commit_offsets(consumer, asked)
