"""Read a whole topic, from its first record to the end it has now (a batch job's input), or
where its partitions end now (an operator's report).

The reader joins no consumer group (``assign`` only), so it moves nobody's offsets and any number
may read at once; the end is every partition's high watermark asked of the broker at the start,
so a topic written while it reads still ends.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from stream.errors import UserFacingError
from stream.settings import Settings
from stream.transport.kafka_config import client_config

__all__ = ["read_topic", "topic_ends", "unjoined_consumer"]


class TopicMissing(UserFacingError, LookupError):
    """The topic to read does not exist."""


def read_topic(settings: Settings, topic: str, timeout_s: float = 30.0
               ) -> Iterator[tuple[bytes | None, bytes]]:
    """Every record of ``topic`` up to its end at the start, as (key, value), partition by
    partition; raises when the broker does not answer within ``timeout_s``."""
    consumer = unjoined_consumer(settings, "reader", **{"enable.partition.eof": False})
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s).topics[topic]
        if metadata.error is not None:
            if metadata.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise TopicMissing(f"Kafka at {settings.kafka.bootstrap} has no topic {topic!r}")
            raise TimeoutError(f"topic {topic!r}: {metadata.error}")
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
                for p in sorted(metadata.partitions)}
        todo = {p: high for p, (low, high) in ends.items() if high > low}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in todo])
        deadline = time.monotonic() + timeout_s
        while todo:
            message = consumer.poll(0.5)
            if message is None:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"reading {topic!r}: nothing came for {timeout_s:.0f} s "
                                       f"with partitions {sorted(todo)} unread to their end")
                continue
            deadline = time.monotonic() + timeout_s
            if message.error() is not None:
                raise TimeoutError(f"reading {topic!r}: {message.error()}")
            partition, offset = message.partition(), message.offset() or 0
            if partition in todo and offset < todo[partition]:
                yield message.key(), message.value() or b""
            if partition in todo and offset + 1 >= todo[partition]:
                del todo[partition]
    finally:
        consumer.close()


def topic_ends(settings: Settings, topics: Sequence[str], timeout_s: float = 5.0
               ) -> dict[tuple[str, int], int] | None:
    """Each partition's end (its high watermark) of ``topics`` now; None when the broker does
    not answer within ``timeout_s`` (a report goes on without them)."""
    # A broker away is the answer None, not a screen of librdkafka's retries.
    consumer = unjoined_consumer(settings, "reader", log_level=0)
    try:
        return {(topic, p): consumer.get_watermark_offsets(TopicPartition(topic, p),
                                                           timeout=timeout_s)[1]
                for topic in topics for p in range(settings.kafka.partitions)}
    except KafkaException:
        return None
    finally:
        consumer.close()


def unjoined_consumer(settings: Settings, role: str, **extra: Any) -> Consumer:
    """A consumer that never joins its group (``assign`` only): it moves nobody's offsets, and
    any number read at once. Its group id names its ``role`` (a reader, a client)."""
    return Consumer(client_config(settings.kafka, **{
        "group.id": f"recstream-{role}-{uuid.uuid4().hex}", "enable.auto.commit": False,
        **extra}))
