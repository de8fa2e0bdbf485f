"""The web shop's producer SDK: validated, keyed, idempotent event publishing on confluent-kafka.

>>> from stream.settings import load_settings
>>> with EventProducer(load_settings(), connect_timeout_s=0) as shop:  # doctest: +SKIP
...     shop.send(ClickEvent(event_id="e1", user_id="u1", item_id="i1", ts=now()))
...     shop.send("purchase", {"event_id": "e2", "user_id": "u1", "order_id": "o1",
...                            "item_id": "i1", "quantity": 1, "price": 9.5, "ts": now()})

Delivery is asynchronous for speed; failures are never swallowed: the first one is raised from the
next ``send``, ``flush`` or ``close`` as :class:`DeliveryError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from pydantic import ValidationError

from stream.contracts.codec import describe
from stream.contracts.schemas import (
    ClickEvent,
    Event,
    ItemUpsert,
    PurchaseEvent,
    UserProfile,
    WeatherEvent,
)
from stream.errors import UserFacingError
from stream.settings import Settings
from stream.transport.kafka_config import producer_config
from stream.transport.topics import contracts_by_topic

KINDS: dict[str, type[Event]] = {
    "click": ClickEvent,
    "purchase": PurchaseEvent,
    "weather": WeatherEvent,
    "item": ItemUpsert,
    "user": UserProfile,
}


class InvalidEvent(UserFacingError, ValueError):
    """The event breaks the contract; the message names the field."""


class BrokerUnavailable(UserFacingError, ConnectionError):
    """No Kafka broker answered within the bounded wait."""


class DeliveryError(UserFacingError, RuntimeError):
    """The broker did not take one or more events (after librdkafka's own retries)."""


def check_reachable(producer: Producer, bootstrap: str, timeout_s: float) -> None:
    """Raise :class:`BrokerUnavailable` unless a broker answers ``producer`` within
    ``timeout_s`` (blocking)."""
    try:
        metadata = producer.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise BrokerUnavailable(
            f"no Kafka broker answered at {bootstrap} within {timeout_s:g}s "
            f"(RECSTREAM_KAFKA_BOOTSTRAP): {exc.args[0]}") from None
    if not metadata.brokers:
        raise BrokerUnavailable(f"no Kafka broker at {bootstrap}")


def now() -> datetime:
    return datetime.now(UTC)


class EventProducer:
    """Publishes contract events to their topics, keyed as DESIGN.md says.

    Idempotent with acks=all, so librdkafka's retries neither lose nor duplicate. Keys are
    partitioned with murmur2 (as the Java client and aiokafka do), so events sent by any client
    and aiokafka-produced messages land on the same partition for the same user.
    """

    def __init__(self, settings: Settings, *, connect_timeout_s: float = 10.0,
                 **librdkafka: Any) -> None:
        self.settings = settings
        self._topics = {contract: topic for topic, contract in contracts_by_topic(settings).items()}
        self._errors: list[str] = []
        self.delivered = 0
        self._producer = Producer(producer_config(settings.kafka, **{
            "batch.size": 512 * 1024,
            "queue.buffering.max.messages": 500_000,
            **librdkafka,
        }))
        if connect_timeout_s > 0:
            check_reachable(self._producer, settings.kafka.bootstrap, connect_timeout_s)

    # --- sending ------------------------------------------------------------------------------
    def send(self, event: Event | str, data: Mapping[str, Any] | None = None) -> None:
        """Send one event: a contract instance, or a kind ("click", ...) and its fields."""
        if isinstance(event, str):
            event = self.validate(event, data or {})
        elif not isinstance(event, Event):
            raise InvalidEvent(f"expected a contract event or a kind name, got {type(event)!r}")
        self._raise_delivery_errors()
        topic = self._topics[type(event)]
        payload = event.to_json()
        while True:
            try:
                self._producer.produce(topic, payload, event.key.encode(),
                                       on_delivery=self._on_delivery)
                break
            except BufferError:  # the local queue is full: let deliveries drain, then retry
                self._producer.poll(0.05)
        self._producer.poll(0)

    def send_many(self, events: Iterable[Event]) -> int:
        """Send events in bulk; return how many were queued."""
        count = 0
        for event in events:
            self.send(event)
            count += 1
        return count

    @staticmethod
    def validate(kind: str, data: Mapping[str, Any]) -> Event:
        """Build the contract for ``kind`` from plain fields, or raise :class:`InvalidEvent`."""
        try:
            model = KINDS[kind]
        except KeyError:
            raise InvalidEvent(
                f"unknown event kind {kind!r}; expected one of {sorted(KINDS)}") from None
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise InvalidEvent(describe(model, exc)) from None

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait until every queued event is delivered (or failed); raise on failures."""
        timeout = timeout_s if timeout_s is not None else (
            self.settings.kafka.producer_delivery_timeout_ms / 1000 + 5)
        remaining = self._producer.flush(timeout)
        if remaining:
            self._errors.append(f"{remaining} event(s) still undelivered after {timeout:g}s")
        self._raise_delivery_errors()

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:  # keep the original error; still give queued events their chance
            self._producer.flush(5)

    # --- delivery reports ---------------------------------------------------------------------
    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            self.delivered += 1
        elif len(self._errors) < 100:
            self._errors.append(f"{message.topic()}: {error.str()}")
        else:
            self._errors[-1] = "... and more"

    def _raise_delivery_errors(self) -> None:
        if self._errors:
            errors, self._errors = self._errors, []
            raise DeliveryError(f"{len(errors)} delivery failure(s), first: {errors[0]}")
