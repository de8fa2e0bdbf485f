"""The worker's one producer: replies, impressions, dead letters, re-keyed events and the
learner's messages.

librdkafka (confluent-kafka) sends them from its own threads, in C: batching, compressing and
writing to the broker. aiokafka's producer, which this replaced, did that work in Python on the
worker's event loop, the loop that learns and answers: 6.6% of a learning worker's samples
(py-spy, `recstream bench serve`), and more with every reply. Here the loop only hands the
messages over and awaits one future per send, which a thread of the publisher settles from
librdkafka's delivery reports.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Collection, Sequence

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka import Message as Delivered

from stream.contracts.records import ORIGIN_HEADER, Message, signed_origin
from stream.contracts.schemas import DeadLetter
from stream.settings import Settings
from stream.transport.kafka_config import producer_config
from stream.transport.producer import check_reachable

# How long the delivery thread waits for a report before it looks whether to stop.
POLL_S = 0.1
# How long start() waits for the broker to answer, and stop() for what is still queued.
CONNECT_TIMEOUT_S = 30.0
FLUSH_TIMEOUT_S = 30.0
# How often at most the broker is asked which topics it has (see ``missing``).
LIST_EVERY_S = 1.0


class PublishFailed(ConnectionError):
    """The broker did not take a message in time (it is away, or a partition has no leader):
    transient, so the consumer retries the batch that sent it."""


class PublishRefused(RuntimeError):
    """The broker refused a message for good (e.g. too large, not authorised)."""


class KafkaPublisher:
    """Publishes what the worker sends, waiting for the broker's acknowledgement (acks=all; the
    idempotent producer keeps each partition's order and writes no duplicate on a retry).

    Keys go to partitions by murmur2, as Kafka's Java client, aiokafka and `EventProducer` put
    them, so a user's messages land on the user's partition whoever sends them. A dead letter's
    key is ``<topic>:<partition>:<offset>`` of its source record, so a letter sent again after
    a crash is recognisable as the same one.
    """

    def __init__(self, settings: Settings, origin_key: bytes) -> None:
        self.settings = settings
        self.origin_key = origin_key  # signs the origin of re-keyed copies
        self.producer: Producer | None = None
        self._stopping = threading.Event()
        self._reports: threading.Thread | None = None
        self._known: set[str] = set()  # the broker's topics when last asked
        self._listed_at = float("-inf")

    async def start(self) -> None:
        kafka = self.settings.kafka
        # A reply waits for no batch to fill: what the loop hands over together goes together.
        self.producer = Producer(producer_config(kafka, **{"linger.ms": 0}))
        await asyncio.to_thread(check_reachable, self.producer, kafka.bootstrap,
                                CONNECT_TIMEOUT_S)
        self._reports = threading.Thread(target=self._serve_reports, args=(self.producer,),
                                         name="publisher-reports", daemon=True)
        self._reports.start()

    async def stop(self) -> None:
        if self.producer is None:
            return
        self._stopping.set()  # flush serves the last reports itself
        if self._reports is not None:
            await asyncio.to_thread(self._reports.join)
        await asyncio.to_thread(self.producer.flush, FLUSH_TIMEOUT_S)

    async def missing(self, topics: Collection[str]) -> set[str]:
        """Of ``topics``, those the broker does not have. What it has is asked again when a topic
        is not known, at most every ``LIST_EVERY_S``: a stream of requests naming a topic that
        is not there must not become a stream of metadata requests."""
        unknown = set(topics) - self._known
        if unknown and time.monotonic() - self._listed_at >= LIST_EVERY_S:
            assert self.producer is not None, "start() first"
            try:
                listed = await asyncio.to_thread(self.producer.list_topics,
                                                 timeout=CONNECT_TIMEOUT_S)
            except KafkaException as exc:
                raise PublishFailed(f"listing the broker's topics: {exc.args[0]}") from None
            self._known, self._listed_at = set(listed.topics), time.monotonic()
            unknown -= self._known
        return unknown

    async def dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        await self._send([
            (self.settings.topics.dlq, None, letter.source.encode(), letter.to_json(),
             [("reason", letter.reason.encode()[:1000])])
            for letter in letters])

    async def forward(self, records: Sequence[tuple[str, bytes, bytes, str]]) -> None:
        """(topic, key, value, origin): each copy names its source record, so its owner applies
        it once even when a crash made this worker forward it twice."""
        await self._send([(topic, None, key, value, [
            (ORIGIN_HEADER, signed_origin(origin, value, self.origin_key).encode())])
            for topic, key, value, origin in records])

    async def send(self, messages: Sequence[Message]) -> None:
        """(topic, partition or None for the key's, key, value or None for a tombstone)."""
        await self._send([(topic, partition, key, value, [])
                          for topic, partition, key, value in messages])

    async def _send(self, messages: Sequence[tuple[str, int | None, bytes, bytes | None,
                                                   list[tuple[str, str | bytes | None]]]]
                    ) -> None:
        assert self.producer is not None, "start() first"
        if not messages:
            return
        deliveries = _Deliveries(asyncio.get_running_loop(), len(messages))
        for topic, partition, key, value, headers in messages:
            while True:
                try:
                    self.producer.produce(
                        topic, value, key, partition=-1 if partition is None else partition,
                        headers=headers or None, on_delivery=deliveries.report)
                    break
                except BufferError:  # librdkafka's queue is full: let deliveries drain
                    await asyncio.sleep(POLL_S)
                except KafkaException as exc:  # refused before queueing (e.g. too large)
                    deliveries.settle(_failure(topic, exc.args[0]))
                    break
        await deliveries.future

    def _serve_reports(self, producer: Producer) -> None:
        """librdkafka's delivery reports run their callbacks in the thread that polls."""
        while not self._stopping.is_set():
            producer.poll(POLL_S)


class _Deliveries:
    """The delivery reports of one send. Its future settles on the loop once, when the last
    report is in or at the first failure: a future per message, each settled by a call into the
    loop, cost the loop as much as the sending itself."""

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self._left = count
        self._settled = False
        self._lock = threading.Lock()  # the loop refuses, the polling thread reports

    def report(self, error: KafkaError | None, message: Delivered) -> None:
        """librdkafka's report of one message, in the thread that polled."""
        self.settle(None if error is None else _failure(message.topic(), error))

    def settle(self, failure: Exception | None) -> None:
        """One message is done: delivered (None) or failed."""
        with self._lock:
            self._left -= 1
            if self._settled or (failure is None and self._left):
                return
            self._settled = True
        self.loop.call_soon_threadsafe(_settle, self.future, failure)


def _settle(future: asyncio.Future[None], failure: Exception | None) -> None:
    if future.done():  # the sender was cancelled
        return
    if failure is None:
        future.set_result(None)
    else:
        future.set_exception(failure)


def _failure(topic: str | None, error: KafkaError) -> Exception:
    """What a send raises for a message that failed: transient (the batch is retried) unless
    the broker will never take it."""
    if error.retriable() or error.code() in _TRANSIENT_CODES:
        return PublishFailed(f"{topic}: {error.str()}")
    return PublishRefused(f"{topic}: {error.str()}")


# Failures that say the broker was away or slow, not that it will never take the message. A
# topic not there (yet) is one: a broker may still create it (aiokafka's producer waited for
# it too). The server asks for reply topics first (``missing``), so no request names one.
_TRANSIENT_CODES = frozenset({KafkaError._MSG_TIMED_OUT, KafkaError._TRANSPORT,
                              KafkaError._ALL_BROKERS_DOWN, KafkaError._TIMED_OUT,
                              KafkaError.REQUEST_TIMED_OUT, KafkaError.NOT_LEADER_FOR_PARTITION,
                              KafkaError.NOT_ENOUGH_REPLICAS,
                              KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
                              KafkaError._UNKNOWN_TOPIC, KafkaError.UNKNOWN_TOPIC_OR_PART})
