"""What item shards publish: their changes as broadcast messages and values to store.

An item's shard is the one writer of its vector and trending counts (DESIGN decision 1). Every
``item_vector_publish_s`` it sends what changed to two compacted topics every worker reads
(stream/contracts/internal.py): each changed vector (a tombstone once expired), and per changed
trending scope the shard's part of it (its mass and kept best items, and the items it expired),
or a tombstone for a scope it dropped (its bound). The same changes are stored in Redis for other
services: the vectors, and each changed count as the item's place in the scope's sorted set,
which an item leaves when it expired or its scope was dropped.
"""

from __future__ import annotations

from collections.abc import Iterable

from stream.contracts.internal import ScopeBest, encode_scope, encode_vector, scope_key
from stream.learning.item_shard import ItemShard
from stream.learning.plan import Plan
from stream.settings import TopicSettings


def publish(shards: Iterable[ItemShard], topics: TopicSettings) -> Plan:
    """The shards' changes since they were last taken, as one plan."""
    plan = Plan()
    for shard in shards:
        for item, change in shard.take_dirty().items():
            value = None if change is None else encode_vector(*change)
            plan.messages.append((topics.item_vectors, None, item.encode(), value))
            if change is not None:
                plan.item_vectors[item] = change[0]
        trends = shard.trending
        changed: dict[str, list[str]] = {}  # scope -> the items that expired from it
        for (item, scope), count in shard.take_counts().items():
            expired = changed.setdefault(scope, [])
            if count is None:
                expired.append(item)
            plan.trending.append((scope, None if count is None else trends.log_score(count),
                                  item))
        dropped = shard.take_dropped()
        for scope in dropped:  # every copy forgets this shard's part (and compaction the key)
            plan.messages.append((topics.item_trending, None, scope_key(shard.partition, scope),
                                  None))
        held = trends.scopes()
        for scope, expired in changed.items():
            if scope in held:  # a dropped scope counted again starts afresh after its tombstone
                part = ScopeBest(trends.landmark or 0.0, trends.mass(scope), trends.best(scope),
                                 [] if scope in dropped else expired)
                plan.messages.append((topics.item_trending, None,
                                      scope_key(shard.partition, scope), encode_scope(part)))
        plan.item_figures[shard.partition] = shard.figures()
    return plan
