"""The item-vector broadcast: every worker reads every item's latest vector (DESIGN decision 8).

Retrieval and negative sampling need all item vectors in each worker's memory. An item's single
writer (its item shard, stream/item_steps.py) publishes the vectors it changed to a compacted
topic keyed by item id; every worker reads all of its partitions from the beginning, without a
consumer group, so a new or restarted worker starts from the latest vector of every item and then
follows the changes. A removed (expired) item is a tombstone (no value).

A value is the item's TTL clock (float64 seconds, little-endian) then its packed float32 vector.

>>> vec = np.array([0.5, -1.0], dtype=np.float32)
>>> decode_vector(encode_vector(vec, 1700000000.0))
(array([ 0.5, -1. ], dtype=float32), 1700000000.0)
"""

from __future__ import annotations

import struct

import numpy as np
from aiokafka import AIOKafkaConsumer, TopicPartition

from models.embeddings import pack, unpack
from stream.kafka_config import aiokafka_config
from stream.settings import Settings

_CLOCK = struct.Struct("<d")


def encode_vector(vec: np.ndarray, last_seen: float) -> bytes:
    return _CLOCK.pack(last_seen) + pack(vec)


def decode_vector(value: bytes) -> tuple[np.ndarray, float]:
    return unpack(value[_CLOCK.size:]), _CLOCK.unpack_from(value)[0]


class VectorReader:
    """Reads the whole item-vector topic, then follows it: (item id, vector or None) batches."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        s = self.settings
        self.consumer = AIOKafkaConsumer(enable_auto_commit=False, group_id=None,
                                         max_partition_fetch_bytes=4 * 1024 * 1024,
                                         **aiokafka_config(s))
        await self.consumer.start()
        partitions = [TopicPartition(s.topic_item_vectors, p) for p in range(s.partitions)]
        self.consumer.assign(partitions)
        await self.consumer.seek_to_beginning(*partitions)

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()

    async def poll(self) -> list[tuple[str, tuple[np.ndarray, float] | None]]:
        """The next changes, oldest first per item (a later one for an item wins)."""
        assert self.consumer is not None, "start() first"
        fetched = await self.consumer.getmany(
            timeout_ms=int(self.settings.batch_max_age_s * 1000), max_records=5_000)
        return [(m.key.decode(), None if m.value is None else decode_vector(m.value))
                for messages in fetched.values() for m in messages if m.key is not None]
