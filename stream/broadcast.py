"""The item broadcast: every worker reads every item's latest state (DESIGN decision 8).

Retrieval, negative sampling and trending need every item in each worker's memory. An item's
single writer (its item shard, stream/item_steps.py) publishes what it changed to two compacted
topics; every worker reads all of their partitions from the beginning, without a consumer group,
so a new or restarted worker starts from the latest state of every item and then follows the
changes. A removed (expired) item or count is a tombstone (no value).

* ``model.item-vectors``, key the item id: its TTL clock (float64 seconds, little-endian) then
  its packed float32 vector.
* ``model.item-trending``, key ``[item, scope]`` as JSON: the landmark (float64) and the item's
  forward-decayed sum in that scope (:class:`models.trending.ForwardDecay`). One message per
  count, so an event that moves one item's counts in four scopes sends those four and not every
  scope the item has ever been counted in.

>>> vec = np.array([0.5, -1.0], dtype=np.float32)
>>> decode_vector(encode_vector(vec, 1700000000.0))
(array([ 0.5, -1. ], dtype=float32), 1700000000.0)
>>> decode_count_key(count_key("tea", "location=Leeds")), decode_count(encode_count(0.0, 2.5))
(('tea', 'location=Leeds'), (0.0, 2.5))
"""

from __future__ import annotations

import json
import struct
from typing import NamedTuple

import numpy as np
from aiokafka import AIOKafkaConsumer, TopicPartition

from models.embeddings import pack, unpack
from stream.kafka_config import aiokafka_config
from stream.settings import Settings

_CLOCK = struct.Struct("<d")
_COUNT = struct.Struct("<dd")

VectorChange = tuple[str, tuple[np.ndarray, float] | None]  # item, (vector, TTL clock)
CountChange = tuple[str, str, tuple[float, float] | None]  # item, scope, (landmark, sum)


class Changes(NamedTuple):
    """What one poll of the broadcast brought, oldest first (a later change of a key wins)."""

    vectors: list[VectorChange]
    counts: list[CountChange]


def encode_vector(vec: np.ndarray, last_seen: float) -> bytes:
    return _CLOCK.pack(last_seen) + pack(vec)


def decode_vector(value: bytes) -> tuple[np.ndarray, float]:
    return unpack(value[_CLOCK.size:]), _CLOCK.unpack_from(value)[0]


def count_key(item: str, scope: str) -> bytes:
    return json.dumps([item, scope], separators=(",", ":")).encode()


def decode_count_key(key: bytes) -> tuple[str, str]:
    item, scope = json.loads(key)
    return item, scope


def encode_count(landmark: float, value: float) -> bytes:
    return _COUNT.pack(landmark, value)


def decode_count(value: bytes) -> tuple[float, float]:
    landmark, count = _COUNT.unpack(value)
    return landmark, count


class VectorReader:
    """Reads both broadcast topics in full, then follows them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        s = self.settings
        self.consumer = AIOKafkaConsumer(enable_auto_commit=False, group_id=None,
                                         max_partition_fetch_bytes=4 * 1024 * 1024,
                                         fetch_max_wait_ms=int(s.batch_max_age_s * 1000),
                                         **aiokafka_config(s))
        await self.consumer.start()
        partitions = [TopicPartition(topic, p) for topic in (s.topic_item_vectors,
                                                              s.topic_item_trending)
                      for p in range(s.partitions)]
        self.consumer.assign(partitions)
        await self.consumer.seek_to_beginning(*partitions)

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()

    async def poll(self) -> Changes:
        """The next changes."""
        assert self.consumer is not None, "start() first"
        fetched = await self.consumer.getmany(
            timeout_ms=int(self.settings.batch_max_age_s * 1000), max_records=5_000)
        changes = Changes([], [])
        for tp, messages in fetched.items():
            if tp.topic == self.settings.topic_item_vectors:
                changes.vectors.extend(
                    (m.key.decode(), None if m.value is None else decode_vector(m.value))
                    for m in messages if m.key is not None)
            else:
                changes.counts.extend(
                    (*decode_count_key(m.key), None if m.value is None else decode_count(m.value))
                    for m in messages if m.key is not None)
        return changes
