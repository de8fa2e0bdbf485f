"""The item broadcast: every worker reads every item's latest state (DESIGN decision 8).

Retrieval, negative sampling and trending need every item in each worker's memory. An item's
single writer (its item shard, stream/item_steps.py) publishes what it changed to two compacted
topics; every worker reads all of their partitions from the beginning, without a consumer group,
so a new or restarted worker starts from the latest state of every item and then follows the
changes. A removed (expired) item vector is a tombstone (no value).

* ``model.item-vectors``, key the item id: its TTL clock (float64 seconds, little-endian) then
  its packed float32 vector.
* ``model.item-trending``, key ``[item shard, scope]`` as JSON: that shard's part of the scope
  (:class:`ScopeBest`) as JSON. Item shards hold disjoint items, so the union of their kept best
  holds each scope's top 100 (:meth:`models.trending.Trending.take_best`). One message per
  changed scope and shard, a few hundred a second, where one per changed count was thousands
  (measured: the worker spent a quarter of its time producing and reading them).

>>> vec = np.array([0.5, -1.0], dtype=np.float32)
>>> decode_vector(encode_vector(vec, 1700000000.0))
(array([ 0.5, -1. ], dtype=float32), 1700000000.0)
>>> part = ScopeBest(landmark=0.0, mass=7.5, best={"tea": 2.5}, gone=["rum"])
>>> decode_scope_key(scope_key(3, "location=Leeds")), decode_scope(encode_scope(part)) == part
((3, 'location=Leeds'), True)
"""

from __future__ import annotations

import json
import struct
from typing import NamedTuple

import numpy as np
from aiokafka import AIOKafkaConsumer, TopicPartition

from models.embeddings import pack, unpack
from stream.transport.kafka_config import aiokafka_config
from stream.settings import Settings

_CLOCK = struct.Struct("<d")


class ScopeBest(NamedTuple):
    """An item shard's part of a trending scope, as of its landmark."""

    landmark: float
    mass: float  # the stored total over all of the shard's items in the scope
    best: dict[str, float]  # its kept best items' stored sums
    gone: list[str]  # items it expired since its last message


VectorChange = tuple[str, tuple[np.ndarray, float] | None]  # item, (vector, TTL clock)
ScopeChange = tuple[int, str, ScopeBest]  # item shard, scope, its part


class Changes(NamedTuple):
    """What one poll of the broadcast brought, oldest first (a later change of a key wins)."""

    vectors: list[VectorChange]
    scopes: list[ScopeChange]


def encode_vector(vec: np.ndarray, last_seen: float) -> bytes:
    return _CLOCK.pack(last_seen) + pack(vec)


def decode_vector(value: bytes) -> tuple[np.ndarray, float]:
    return unpack(value[_CLOCK.size:]), _CLOCK.unpack_from(value)[0]


def scope_key(shard: int, scope: str) -> bytes:
    return json.dumps([shard, scope], separators=(",", ":")).encode()


def decode_scope_key(key: bytes) -> tuple[int, str]:
    shard, scope = json.loads(key)
    return shard, scope


def encode_scope(part: ScopeBest) -> bytes:
    return json.dumps(list(part), separators=(",", ":")).encode()


def decode_scope(value: bytes) -> ScopeBest:
    return ScopeBest(*json.loads(value))


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
            timeout_ms=int(self.settings.worker.batch_max_age_s * 1000), max_records=5_000)
        changes = Changes([], [])
        for tp, messages in fetched.items():
            if tp.topic == self.settings.topics.item_vectors:
                changes.vectors.extend(
                    (m.key.decode(), None if m.value is None else decode_vector(m.value))
                    for m in messages if m.key is not None)
            else:
                changes.scopes.extend((*decode_scope_key(m.key), decode_scope(m.value))
                                      for m in messages if m.key is not None and m.value)
        return changes
