"""The worker's publisher against the real broker: keyed as every client keys, in order,
acknowledged, and loud about a message the broker will never take."""

from __future__ import annotations

import asyncio
import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from stream.transport.partitioner import partition_of
from stream.transport.publisher import KafkaPublisher, PublishRefused

pytestmark = pytest.mark.integration


def read_partitions(settings, topic):
    """partition -> [(key, value, headers)] of every record, in offset order."""
    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap,
                         "group.id": f"{settings.worker.app_id}-publisher-reader"})
    partitions = range(settings.kafka.partitions)
    ends = {p: end_of(consumer, TopicPartition(topic, p)) for p in partitions}
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    read: dict[int, list] = {p: [] for p in partitions}
    while sum(map(len, read.values())) < sum(ends.values()):
        message = consumer.poll(5)
        assert message is not None, "the records acknowledged were not all readable"
        read[message.partition()].append((message.key(), message.value(), message.headers()))
    consumer.close()
    return read


def end_of(consumer, partition, timeout_s=30):
    """The partition's highwater offset, once it has a leader (a new topic may not yet)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return consumer.get_watermark_offsets(partition, timeout=timeout_s)[1]
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def publish(settings, act):
    async def run():
        publisher = KafkaPublisher(settings, b"k" * 32)
        await publisher.start()
        try:
            await act(publisher)
        finally:
            await publisher.stop()
    asyncio.run(run())


def test_what_is_sent_is_acknowledged_on_the_keys_partition_in_order(settings):
    topic = settings.topics.impressions
    users = [f"user-{n}" for n in range(40)]

    async def act(publisher):
        await publisher.send([(topic, None, user.encode(), f"{user}#{n}".encode())
                              for n in range(3) for user in users])

    publish(settings, act)  # returns once the broker acknowledged every message
    read = read_partitions(settings, topic)
    for user in users:
        mine = [value for key, value, _ in read[partition_of(user, settings.kafka.partitions)]
                if key == user.encode()]
        assert mine == [f"{user}#{n}".encode() for n in range(3)]


def test_a_dead_letter_carries_its_reason_as_a_header(settings):
    from stream.contracts.records import Record, dead_letter

    letter = dead_letter(Record("shop.clicks", 1, 7, b"u", b"{bad", None), "invalid json")

    async def act(publisher):
        await publisher.dead_letters([letter])

    publish(settings, act)
    (key, _, headers), = [r for records in read_partitions(
        settings, settings.topics.dlq).values() for r in records]
    assert key == letter.source.encode() and ("reason", b"invalid json") in headers


def test_a_message_the_broker_will_never_take_fails_at_once_not_forever(settings):
    too_large = b"x" * (2 * 1024 * 1024)  # over the producer's and the broker's 1 MB

    async def act(publisher):
        with pytest.raises(PublishRefused, match="too large"):
            await asyncio.wait_for(publisher.send([
                (settings.topics.impressions, None, b"u", b"before"),
                (settings.topics.impressions, None, b"u", too_large),
                (settings.topics.impressions, None, b"u", b"beside")]), timeout=10)
        await publisher.send([(settings.topics.impressions, None, b"u", b"after")])

    publish(settings, act)


def test_it_names_the_topics_the_broker_lacks_without_creating_them(settings):
    nowhere = f"{settings.topics.responses}-nowhere"

    async def act(publisher):
        assert await publisher.missing([settings.topics.responses, nowhere]) == {nowhere}
        assert await publisher.missing([nowhere]) == {nowhere}  # asked once a second at most

    publish(settings, act)
    publish(settings, act)  # a fresh publisher asks the broker again: still not created
