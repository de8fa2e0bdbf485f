"""The recommendation client SDK: ask the workers over Kafka, wait for their reply.

>>> from stream.settings import load_settings
>>> with RecommendationClient(load_settings()) as shop:  # doctest: +SKIP
...     items = shop.recommend("u1", k=5, location="United Kingdom")
...     pending = [shop.submit(user) for user in ("u2", "u3")]  # many in flight
...     replies = [future.result() for future in pending]

:class:`AsyncRecommendationClient` has the same methods, to await.

A request goes to the requests topic keyed by its user id, partitioned with murmur2 as the
workers' own clients do, so it reaches the partition, and the worker, that learns that user's
events. Its reply comes back on the client's reply topic keyed by the request id. Every client
reads that topic whole with one consumer outside any consumer group (a group would split the
replies among the clients; each keeps only its own), from where the topic ended when it opened:
no reply to a request it sends afterwards can be missed. One thread polls it and hands every
reply to a :class:`~stream.transport.replies.ReplyRouter`, the plain core that also times out
whoever waits too long.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from concurrent.futures import Future
from types import TracebackType
from typing import Unpack

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from stream.contracts.serving import RecommendationReply, RecommendationRequest, ReplyItem
from stream.errors import UserFacingError
from stream.settings import Settings
from stream.transport.kafka_config import client_config
from stream.transport.producer import BrokerUnavailable, DeliveryError
from stream.transport.replies import (
    InvalidRequest,
    RecommendationFailed,
    RecommendationTimeout,
    ReplyRouter,
    RequestOptions,
    check_timeout,
    items_of,
    new_request,
)
from stream.transport.topic_reader import unjoined_consumer

# The SDK's names: the clients, and the errors their callers catch.
__all__ = ["AsyncRecommendationClient", "BrokerUnavailable", "DeliveryError", "InvalidRequest",
           "RecommendationClient", "RecommendationFailed", "RecommendationTimeout",
           "RequestOptions", "UnknownTopic", "items_of"]

log = logging.getLogger(__name__)

# The reply thread's longest wait for a reply: how late close() returns and a delivery failure
# is reported. Timeouts fire on time whatever it is (the thread wakes for the next deadline).
POLL_S = 0.1
# librdkafka's log level: critical only. Every failure reaches the caller as an exception with
# librdkafka's reason; its log of each reconnection attempt (20 lines a second with the broker
# down) would bury that message under the command's output.
QUIET = 2
# What a broker answers for a topic created a moment ago, until its partitions have leaders.
SETTLING = frozenset({KafkaError.LEADER_NOT_AVAILABLE, KafkaError.NOT_LEADER_FOR_PARTITION})


class UnknownTopic(UserFacingError, LookupError):
    """The reply topic does not exist, so no reply could ever be read."""


class _Channel:
    """The Kafka side both clients share: the request producer, the reply consumer and the
    thread that polls both."""

    def __init__(self, settings: Settings, reply_to: str | None, timeout_s: float | None,
                 connect_timeout_s: float) -> None:
        self.settings = settings
        self.reply_to = reply_to or settings.topics.responses
        # The workers' own wait for a request without a deadline is the natural default.
        self.timeout_s = (settings.serving.default_deadline_ms / 1000 if timeout_s is None
                          else timeout_s)
        check_timeout(self.timeout_s)
        self.connect_timeout_s = connect_timeout_s
        self.router = ReplyRouter(hint=f"is a recstream worker consuming "
                                       f"{settings.topics.requests!r} at "
                                       f"{settings.kafka.bootstrap}?")
        self._stopping = threading.Event()
        self._producer: Producer | None = None
        self._consumer: Consumer | None = None
        self._thread: threading.Thread | None = None

    @property
    def opened(self) -> bool:
        return self._thread is not None

    def open(self) -> None:
        """Connect; blocks up to ``connect_timeout_s`` per broker round trip."""
        if self._stopping.is_set():
            raise RuntimeError("the recommendation client is closed")
        kafka = self.settings.kafka
        consumer = unjoined_consumer(self.settings, "client", **{
            "enable.partition.eof": False, "log_level": QUIET})
        try:
            consumer.assign(self._ends(consumer))
        except BaseException:
            consumer.close()
            raise
        self._consumer = consumer
        self._producer = Producer(client_config(kafka, **{
            # The workers' partitioner (Java's and aiokafka's default): a request must land on
            # the partition of its user's events.
            "partitioner": "murmur2_random",
            "linger.ms": 0,  # a request waits for nobody; under load batches form anyway
            "message.timeout.ms": kafka.producer_delivery_timeout_ms,
            "log_level": QUIET,
        }))
        self._thread = threading.Thread(target=self._run, name="recstream-replies", daemon=True)
        self._thread.start()

    def _ends(self, consumer: Consumer) -> list[TopicPartition]:
        """Every partition of the reply topic at its high watermark, asked of the broker now:
        a fetch that resolved "the end" later could start past a reply already written."""
        deadline = time.monotonic() + self.connect_timeout_s
        while True:
            wait = max(deadline - time.monotonic(), 0.1)
            try:
                topic = consumer.list_topics(self.reply_to, timeout=wait).topics[self.reply_to]
                problem = topic.error
                if problem is not None and problem.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise UnknownTopic(
                        f"Kafka at {self.settings.kafka.bootstrap} has no topic "
                        f"{self.reply_to!r} to read replies from: create it (`recstream stack "
                        f"up` creates the default ones) or name another reply topic")
                if problem is not None:  # e.g. no leader yet: settling, or not
                    raise KafkaException(problem)
                return [TopicPartition(self.reply_to, p, consumer.get_watermark_offsets(
                            TopicPartition(self.reply_to, p), timeout=wait)[1])
                        for p in sorted(topic.partitions)]
            except KafkaException as exc:
                error = exc.args[0]
                if time.monotonic() < deadline and error.code() in SETTLING:
                    time.sleep(0.1)
                    continue
                raise BrokerUnavailable(
                    f"Kafka at {self.settings.kafka.bootstrap} did not say where reply topic "
                    f"{self.reply_to!r} ends within {self.connect_timeout_s:g}s "
                    f"(RECSTREAM_KAFKA_BOOTSTRAP): {error.str()}") from None

    def prepare(self, user_id: str, k: int, options: RequestOptions
                ) -> tuple[RecommendationRequest, float]:
        timeout_s = options.get("timeout_s")
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        request = new_request(user_id, k, self.reply_to, timeout_s,
                              location=options.get("location"), device=options.get("device"),
                              exclude=options.get("exclude", ()))
        return request, timeout_s

    def submit(self, request: RecommendationRequest, timeout_s: float
               ) -> Future[RecommendationReply]:
        assert self._producer is not None, "open() first"
        rid = request.request_id
        future = self.router.expect(rid, timeout_s)
        try:
            self._producer.produce(self.settings.topics.requests, request.to_json(),
                                   request.user_id.encode(),
                                   on_delivery=functools.partial(self._on_delivery, rid))
        except (BufferError, KafkaException) as exc:  # BufferError: the local queue is full
            self.router.fail(rid, DeliveryError(f"request {rid} was not sent: {exc!r}"))
        return future

    def _on_delivery(self, request_id: str, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self.router.fail(request_id, DeliveryError(
                f"request {request_id} was not delivered to {message.topic()}: {error.str()}"))

    def _run(self) -> None:
        assert self._consumer is not None and self._producer is not None
        wait = POLL_S
        try:
            while not self._stopping.is_set():
                # poll, not consume(n): consume waits for n messages or the whole timeout.
                message = self._consumer.poll(wait)
                if message is not None and message.error() is None:
                    self.router.deliver(message.key(), message.value())
                elif message is not None:
                    log.warning("reading replies from %s: %s", self.reply_to, message.error())
                self._producer.poll(0)  # delivery reports
                next_in = self.router.expire()
                wait = POLL_S if next_in is None else min(POLL_S, next_in)
        except Exception as exc:  # replies come by this thread alone: every waiter must hear
            log.exception("the reply thread stopped")
            self.router.close(exc)

    def close(self) -> None:
        """Cancel whoever still waits and disconnect (blocks up to ``POLL_S``); once."""
        if self._stopping.is_set():
            return
        self.router.close()  # new requests are refused from here
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        if self._producer is not None:
            self._producer.purge()  # nobody is left to read the replies of unsent requests
        if self._consumer is not None:
            self._consumer.close()


class RecommendationClient:
    """Asks the workers for recommendations and waits for the replies.

    Thread-safe, with any number of requests in flight (:meth:`submit`). Connects when made:
    :class:`BrokerUnavailable` or :class:`UnknownTopic` then, not at the first request.
    """

    def __init__(self, settings: Settings, *, reply_to: str | None = None,
                 timeout_s: float | None = None, connect_timeout_s: float = 10.0) -> None:
        self._channel = _Channel(settings, reply_to, timeout_s, connect_timeout_s)
        self._channel.open()

    def submit(self, user_id: str, k: int = 10, **options: Unpack[RequestOptions]
               ) -> Future[RecommendationReply]:
        """Send a request; the future holds its reply, or :class:`RecommendationTimeout`."""
        return self._channel.submit(*self._channel.prepare(user_id, k, options))

    def request(self, user_id: str, k: int = 10, **options: Unpack[RequestOptions]
                ) -> RecommendationReply:
        """Send a request and wait for its reply (which may carry an ``error``)."""
        return self.submit(user_id, k, **options).result()

    def recommend(self, user_id: str, k: int = 10, **options: Unpack[RequestOptions]
                  ) -> list[ReplyItem]:
        """The items for a user, best first, or :class:`RecommendationFailed`."""
        return items_of(self.request(user_id, k, **options))

    def close(self) -> None:
        """Disconnect; requests still waiting are cancelled."""
        self._channel.close()

    def __enter__(self) -> RecommendationClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class AsyncRecommendationClient:
    """:class:`RecommendationClient` for asyncio: the same requests, awaited.

    It shares the reply thread and :class:`ReplyRouter`; each reply reaches the event loop
    through ``asyncio.wrap_future`` (``loop.call_soon_threadsafe``). Connecting and closing
    block on the broker, so they run in the loop's executor. It connects at ``async with``,
    :meth:`open`, or the first request.
    """

    def __init__(self, settings: Settings, *, reply_to: str | None = None,
                 timeout_s: float | None = None, connect_timeout_s: float = 10.0) -> None:
        self._channel = _Channel(settings, reply_to, timeout_s, connect_timeout_s)
        self._opening = asyncio.Lock()

    async def open(self) -> None:
        """Connect, once."""
        async with self._opening:
            if not self._channel.opened:
                await asyncio.get_running_loop().run_in_executor(None, self._channel.open)

    async def submit(self, user_id: str, k: int = 10, **options: Unpack[RequestOptions]
                     ) -> asyncio.Future[RecommendationReply]:
        """Send a request; await the future for its reply, or :class:`RecommendationTimeout`."""
        prepared = self._channel.prepare(user_id, k, options)  # a bad argument: before connecting
        await self.open()
        return asyncio.wrap_future(self._channel.submit(*prepared))

    async def request(self, user_id: str, k: int = 10, **options: Unpack[RequestOptions]
                      ) -> RecommendationReply:
        """Send a request and await its reply (which may carry an ``error``)."""
        return await (await self.submit(user_id, k, **options))

    async def recommend(self, user_id: str, k: int = 10, **options: Unpack[RequestOptions]
                        ) -> list[ReplyItem]:
        """The items for a user, best first, or :class:`RecommendationFailed`."""
        return items_of(await self.request(user_id, k, **options))

    async def close(self) -> None:
        """Disconnect; requests still waiting are cancelled."""
        await asyncio.get_running_loop().run_in_executor(None, self._channel.close)

    async def __aenter__(self) -> AsyncRecommendationClient:
        await self.open()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
