"""What the worker fetched: its records as the parts read them, where their partitions stand
(highwaters), and the offsets it tells Kafka.

A rebalance may revoke a partition while a batch is learned; aiokafka then asserts when asked
its highwater, so each is read only for partitions still assigned.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from typing import Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from stream.contracts.records import ORIGIN_HEADER, Record

log = logging.getLogger(__name__)


class FirstReader(Protocol):
    """The learner as it says what to read first (stream/learning/shell.py)."""

    def read_first(self) -> set[tuple[str, int]]: ...


def fetched_to_end(consumer: AIOKafkaConsumer,
                   events: dict[TopicPartition, list[ConsumerRecord]]) -> bool:
    """Whether the events fetched reach their partitions' highwater (the learner then closes
    open baskets): judged from the fetch, not the batch size, as a fetch may return early."""
    if not events:
        return False
    for tp, messages in events.items():
        highwater = highwater_of(consumer, tp)
        if highwater is None or messages[-1].offset + 1 < highwater:
            return False
    return True


async def first_records(consumer: AIOKafkaConsumer, assigned: Iterable[TopicPartition],
                        learner: FirstReader, max_records: int
                        ) -> dict[TopicPartition, list[ConsumerRecord]]:
    """Records of the partitions the learner reads first (the facts events are joined with,
    what its merge waits for): behind a backlog aiokafka hands over a partition's fetched records
    before the next one's."""
    first = [tp for tp in assigned if (tp.topic, tp.partition) in learner.read_first()]
    return await consumer.getmany(*first, timeout_ms=0, max_records=max_records) if first else {}


def known_ends(consumer: AIOKafkaConsumer, assigned: Iterable[TopicPartition],
               topics: Collection[str]) -> dict[tuple[str, int], int]:
    """The highwater offsets of the assigned partitions of ``topics``, where a fetch told them:
    the learner holds back events that unread records could precede (stream/learning/merge.py)."""
    return {(tp.topic, tp.partition): highwater for tp in assigned if tp.topic in topics
            and (highwater := highwater_of(consumer, tp)) is not None}


def highwater_of(consumer: AIOKafkaConsumer, tp: TopicPartition) -> int | None:
    """Its fetched highwater; None if unknown or revoked since the fetch (aiokafka asserts)."""
    return consumer.highwater(tp) if tp in consumer.assignment() else None


async def commit_offsets(consumer: AIOKafkaConsumer | None,
                         fetched: dict[TopicPartition, list[ConsumerRecord]]) -> None:
    """Tell Kafka how far we are (for lag), best effort: the state holds the truth."""
    assert consumer is not None
    try:
        await consumer.commit({tp: messages[-1].offset + 1 for tp, messages in fetched.items()})
    except Exception as exc:  # e.g. a rebalance in progress: the next batch commits again
        log.warning("offset commit skipped: %r", exc)


def as_record(message: ConsumerRecord) -> Record:
    origin = next((value.decode("utf-8", "replace") for name, value in message.headers or ()
                   if name == ORIGIN_HEADER), None)
    return Record(message.topic, message.partition, message.offset, message.key, message.value,
                  message.timestamp, origin)
