"""The item broadcast: every worker reads every item's latest state (DESIGN decision 8).

Retrieval, negative sampling and trending need every item in each worker's memory. An item's
single writer (its item shard, stream/learning/item_shard.py) publishes what it changed to two
compacted topics (their messages: stream/contracts/internal.py); every worker reads all of their
partitions from the beginning, without a consumer group, so a new or restarted worker starts from
the latest state of every item and then follows the changes.

Trending travels as one message per changed scope and item shard, a few hundred a second, where
one per changed count was thousands (measured: the worker spent a quarter of its time producing
and reading them).
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition

from stream.contracts.internal import Changes, decode_broadcast
from stream.contracts.records import Record
from stream.settings import Settings
from stream.transport.kafka_config import aiokafka_config

# Broadcast records taken at a time, decoded and taken in one step of the event loop: up to
# 5,000 held it 30 to 45 ms at a time while requests waited (`recstream bench serve`, 2,000
# clicks/s); the records of a second come in a few polls instead.
RECORDS_PER_POLL = 200


class VectorReader:
    """Reads both broadcast topics in full, then follows them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        s = self.settings
        self.consumer = AIOKafkaConsumer(enable_auto_commit=False, group_id=None,
                                         max_partition_fetch_bytes=4 * 1024 * 1024,
                                         fetch_max_wait_ms=int(s.worker.batch_max_age_s * 1000),
                                         **aiokafka_config(s.kafka))
        await self.consumer.start()
        partitions = [TopicPartition(topic, p) for topic in (s.topics.item_vectors,
                                                              s.topics.item_trending)
                      for p in range(s.kafka.partitions)]
        self.consumer.assign(partitions)
        await self.consumer.seek_to_beginning(*partitions)

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()

    async def poll(self) -> Changes:
        """The next changes."""
        assert self.consumer is not None, "start() first"
        fetched = await self.consumer.getmany(
            timeout_ms=int(self.settings.worker.batch_max_age_s * 1000),
            max_records=RECORDS_PER_POLL)
        return decode_broadcast((Record(m.topic, m.partition, m.offset, m.key, m.value)
                                 for messages in fetched.values() for m in messages),
                                self.settings.topics.item_vectors)
