"""The item broadcast: every worker reads every item's latest state (DESIGN decision 8).

Retrieval, negative sampling and trending need every item in each worker's memory. An item's
single writer (its item shard, stream/item_steps.py) publishes the items it changed to a compacted
topic keyed by item id; every worker reads all of its partitions from the beginning, without a
consumer group, so a new or restarted worker starts from the latest state of every item and then
follows the changes. A removed (expired) item is a tombstone (no value).

An item's state (:class:`ItemState`) is its vector, if it has passed the frequency filter, its TTL
clock, and its trending sums per scope with the landmark they are relative to
(:class:`models.trending.ForwardDecay`). A value is the TTL clock (float64 seconds,
little-endian), the number of factors (uint16; 0: no vector), the packed float32 vector, then the
trending as compact JSON ``[landmark, {scope: sum}]``.

>>> state = ItemState(np.array([0.5, -1.0], dtype=np.float32), 1700000000.0, 0.0,
...                   {"global": 2.5})
>>> decode_item(encode_item(state))
ItemState(vector=array([ 0.5, -1. ], dtype=float32), last_seen=1700000000.0, landmark=0.0, trending={'global': 2.5})
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

_HEADER = struct.Struct("<dH")


class ItemState(NamedTuple):
    """What the broadcast says of an item."""

    vector: np.ndarray | None  # None: not past the frequency filter yet
    last_seen: float  # its TTL clock (event time)
    landmark: float | None  # what the trending sums are relative to (None: no sums)
    trending: dict[str, float]  # scope -> stored forward-decay sum


def encode_item(state: ItemState) -> bytes:
    vector = b"" if state.vector is None else pack(state.vector)
    header = _HEADER.pack(state.last_seen, 0 if state.vector is None else len(state.vector))
    trending = json.dumps([state.landmark, state.trending], separators=(",", ":"))
    return header + vector + trending.encode()


def decode_item(value: bytes) -> ItemState:
    last_seen, dim = _HEADER.unpack_from(value)
    end = _HEADER.size + 4 * dim
    landmark, trending = json.loads(value[end:])
    return ItemState(unpack(value[_HEADER.size:end]) if dim else None, last_seen, landmark,
                     trending)


class VectorReader:
    """Reads the whole item-vector topic, then follows it: (item id, vector or None) batches."""

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
        partitions = [TopicPartition(s.topic_item_vectors, p) for p in range(s.partitions)]
        self.consumer.assign(partitions)
        await self.consumer.seek_to_beginning(*partitions)

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()

    async def poll(self) -> list[tuple[str, ItemState | None]]:
        """The next changes, oldest first per item (a later one for an item wins)."""
        assert self.consumer is not None, "start() first"
        fetched = await self.consumer.getmany(
            timeout_ms=int(self.settings.batch_max_age_s * 1000), max_records=5_000)
        return [(m.key.decode(), None if m.value is None else decode_item(m.value))
                for messages in fetched.values() for m in messages if m.key is not None]
