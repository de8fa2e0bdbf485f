"""Which partition Kafka's default partitioner gives a key: item steps go to their item's owner.

>>> partition_of("item1", 4) == partition_of("item1", 4) < 4
True
"""

from __future__ import annotations

import functools

from aiokafka.partitioner import murmur2


@functools.lru_cache(maxsize=1 << 16)
def partition_of(key: str, partitions: int) -> int:
    """Kafka's default partitioner on the key (cached: the pure-Python murmur2 costs more than
    the rest of routing a step)."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions
