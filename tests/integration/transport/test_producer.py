"""The producer SDK against the real broker: validated, keyed, loud about failures."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from confluent_kafka import Consumer

from stream.contracts.schemas import ClickEvent, WeatherEvent
from stream.settings import load_settings
from stream.transport.producer import BrokerUnavailable, EventProducer, InvalidEvent
from tests.integration.conftest import wait_until
from tests.integration.traffic import applied_events

pytestmark = pytest.mark.integration
TS = datetime(2011, 5, 1, 12, 0, tzinfo=UTC)


def consume_all(settings, topic, expected, timeout_s=30):
    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap,
                         "group.id": f"{settings.worker.app_id}-reader", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    messages, deadline = [], time.monotonic() + timeout_s
    while len(messages) < expected and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and not message.error():
            messages.append(message)
    consumer.close()
    return messages


def test_an_invalid_event_raises_naming_the_field_and_sends_nothing(settings):
    with EventProducer(settings) as shop:
        with pytest.raises(InvalidEvent, match="price: Input should be greater than or equal"):
            shop.send("purchase", {"event_id": "e1", "user_id": "u1", "order_id": "o1",
                                   "item_id": "i1", "quantity": 1, "price": -5, "ts": TS})
        with pytest.raises(InvalidEvent, match="ts: Field required"):
            shop.send("click", {"event_id": "e1", "user_id": "u1", "item_id": "i1"})
        with pytest.raises(InvalidEvent, match="unknown event kind 'clik'"):
            shop.send("clik", {})
    assert shop.delivered == 0


def test_an_unreachable_broker_is_reported_within_the_bounded_wait():
    settings = load_settings(kafka_bootstrap="127.0.0.1:1")  # nothing listens on port 1
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable, match=r"127\.0\.0\.1:1 within 3s"):
        EventProducer(settings, connect_timeout_s=3)
    assert time.monotonic() - started < 10


def test_a_lost_broker_surfaces_as_a_delivery_error_not_silence():
    from stream.transport.producer import DeliveryError

    settings = load_settings(kafka_bootstrap="127.0.0.1:1", producer_delivery_timeout_ms=1500)
    shop = EventProducer(settings, connect_timeout_s=0)  # skip the up-front check
    shop.send(ClickEvent(event_id="e", user_id="u", item_id="i", ts=TS))
    with pytest.raises(DeliveryError, match="1 delivery failure"):
        shop.flush(timeout_s=10)


def test_events_are_keyed_by_user_and_by_location(settings):
    with EventProducer(settings) as shop:
        for n in range(20):
            shop.send(ClickEvent(event_id=f"e{n}", user_id="u7", item_id=f"i{n}", ts=TS))
        shop.send(WeatherEvent(location="France", ts=TS, temp_c=20, precip_mm=0,
                               condition="clear"))
    clicks = consume_all(settings, settings.topics.clicks, 20)
    assert {m.key() for m in clicks} == {b"u7"}
    assert len({m.partition() for m in clicks}) == 1  # one user, one partition, in order
    assert [m.value() for m in clicks] == [
        ClickEvent(event_id=f"e{n}", user_id="u7", item_id=f"i{n}", ts=TS).to_json()
        for n in range(20)]
    assert consume_all(settings, settings.topics.weather, 1)[0].key() == b"France"


def test_the_sdk_uses_the_java_clients_partitioner(settings):
    """murmur2, as Java and aiokafka use: any client puts a user's events on one partition."""
    from aiokafka.partitioner import DefaultPartitioner

    with EventProducer(settings) as shop:
        for user in ("u1", "u2", "17850", "anon-536365"):
            shop.send(ClickEvent(event_id=user, user_id=user, item_id="i", ts=TS))
    partitions = list(range(settings.kafka.partitions))
    for message in consume_all(settings, settings.topics.clicks, 4):
        assert message.partition() == DefaultPartitioner()(message.key(), partitions, partitions)


def test_plain_json_from_any_client_is_ingested_like_the_sdks(settings, start_worker,
                                                              redis_client):
    from tests.integration.traffic import send_raw

    start_worker()
    with EventProducer(settings) as shop:
        shop.send(ClickEvent(event_id="sdk", user_id="u1", item_id="i1", ts=TS))
    send_raw(settings, [(settings.topics.clicks, b"u1",
                         b'{"schema_version":1,"event_id":"raw","user_id":"u1",'
                         b'"item_id":"i1","ts":1304251200000}')])
    wait_until(lambda: applied_events(redis_client, settings) >= 2, 60, "both clicks applied")
    from stream.ops.inspect import inspect_item, inspect_user
    from stream.store.reads import StateReader

    reader = StateReader(settings.redis)

    assert inspect_item(reader, "i1")["clicks"] == 2
    assert inspect_user(reader, "u1")["recent_items"] == ["i1", "i1"]
