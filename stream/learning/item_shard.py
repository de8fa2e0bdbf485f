"""Item halves of embedding updates: routed to each item's partition, applied there once.

DESIGN decision 1 wants one writer per item vector. A user shard learns the user half of a step
and hands the item halves (:class:`~models.embeddings.ItemStep`) to :func:`route`, which groups
them by the partition of their item into one message per target partition per batch, on the
item-steps topic (:mod:`stream.contracts.internal`). The worker owning partition ``q`` of that
topic holds item shard ``q`` (:class:`ItemShard`): the only model that changes the vectors of the
items hashed to ``q``. Their new values are broadcast to every worker and stored in Redis.

**Applied once.** Kafka may carry a step twice: a user shard restored from its snapshot replays
events whose steps were already sent. Each step carries the (topic, offset) of its event
(:attr:`~models.embeddings.ItemStep.origin`), and each message its source shard's watermark: per
topic, the offset below which every event has been learned and its steps sent (the events of a
basket still open are not learned yet). Messages from one source reach a target partition in
order, so once an item shard has applied a message with watermark ``W``, it has applied every
step of that source's events below ``W``: a step is a duplicate exactly when its event's offset
is below the watermark recorded for its topic and source partition.

>>> import numpy as np
>>> from stream.contracts.internal import StepMessage
>>> vec = np.zeros(2, dtype=np.float32)
>>> message = StepMessage(source=3, watermark={"clicks": 11}, steps=[
...     ItemStep("tea", ts=5.0, weight=1.0, user_vec=vec, origin=("clicks", 10))])
>>> shard = ItemShard.new(0, n_factors=2, min_item_count=1, ttl_s=None, max_trending_scopes=100)
>>> shard.apply(message), shard.apply(message)  # the second is a duplicate
(1, 0)
>>> shard.applied, shard.duplicates, sorted(shard.dirty)
(1, 1, ['tea'])
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.embeddings import ItemStep, OnlineMF
from models.hybrid import TRENDING_HALF_LIFE_S
from models.trending import Trending
from stream.contracts.internal import InvalidInternal, StepMessage, decode_steps
from stream.contracts.records import Record


def route(steps: Iterable[ItemStep], partition_of: Callable[[str], int]
          ) -> dict[int, list[ItemStep]]:
    """Steps grouped by their item's partition, in the order given."""
    routed: dict[int, list[ItemStep]] = defaultdict(list)
    for step in steps:
        routed[partition_of(step.item_id)].append(step)
    return routed


# Item steps per message at most: a step takes ~50 bytes and its user's vector ~170 at most, so
# a message stays far below the producer's 1 MB request limit however many events a batch
# learned (a shard that held events back learns them at once).
STEPS_PER_MESSAGE = 2_000


def in_messages(steps: list[ItemStep], watermark: dict[str, int], most: int = STEPS_PER_MESSAGE
                ) -> Iterator[tuple[list[ItemStep], dict[str, int]]]:
    """The steps cut into messages of at most ``most``, each with the watermark it may carry:
    the last the source's, each earlier one no higher than any offset still to come after it
    (an item shard takes every step below a watermark it has seen as a replay).

    >>> steps = [ItemStep(f"i{n}", ts=0.0, weight=1.0, user_vec=None, origin=("clicks", n))
    ...          for n in (3, 4, 5)]
    >>> [([s.origin[1] for s in part], mark) for part, mark in in_messages(steps, {"clicks": 9}, 2)]
    [([3, 4], {'clicks': 5}), ([5], {'clicks': 9})]
    """
    parts = [steps[start:start + most] for start in range(0, len(steps), most)]
    marks, mark = [], dict(watermark)
    for part in reversed(parts):  # each mark: the source's, lowered by the steps after it
        marks.append(dict(mark))
        for step in part:
            if step.origin is not None and step.origin[0] in mark:
                mark[step.origin[0]] = min(mark[step.origin[0]], step.origin[1])
    yield from zip(parts, reversed(marks), strict=True)


@dataclass
class ItemShard:
    """The items of one partition, their only writer, and the offsets it covers: their vectors
    (:class:`OnlineMF`) and their trending sums (:class:`Trending`, every interaction counted in
    its location's and weather's scopes, at most ``max_trending_scopes`` of them: past it the
    places with the least mass are dropped, and their items leave every copy and Redis)."""

    partition: int
    mf: OnlineMF
    trending: Trending
    offset: int = 0  # next offset of the item-steps partition not applied yet
    watermarks: dict[str, int] = field(default_factory=dict)  # "<topic>:<source>" -> offset
    applied: int = 0  # steps applied: one per interaction of the whole stream
    negatives: int = 0  # negatives drawn here and pushed away
    duplicates: int = 0
    rejected: int = 0  # messages that could not be applied (dead letters)
    dirty: set[str] = field(default_factory=set)  # vectors changed since their last broadcast
    dirty_counts: set[tuple[str, str]] = field(default_factory=set)  # (item, scope) changed
    dropped: set[str] = field(default_factory=set)  # trending scopes dropped since broadcast

    @classmethod
    def new(cls, partition: int, *, n_factors: int = 32, min_item_count: int,
            ttl_s: float | None, max_trending_scopes: int) -> ItemShard:
        return cls(partition, OnlineMF(n_factors=n_factors, min_item_count=min_item_count,
                                       ttl_s=ttl_s, seed=0),
                   Trending(half_life_s=TRENDING_HALF_LIFE_S, max_scopes=max_trending_scopes))

    def take(self, record: Record) -> str | None:
        """Apply a record of the item-steps topic not taken before; the reason it could not
        be applied, if so (the shard moves past it: it becomes a dead letter)."""
        if record.offset < self.offset:
            return None
        self.offset = record.offset + 1
        try:
            self.apply(decode_steps(record.value or b""))
        except Exception as exc:  # no I/O here: nothing transient, never worth a crash
            self.rejected += 1
            return str(exc) if isinstance(exc, InvalidInternal) else (
                f"could not be applied: {exc!r}")
        return None

    def apply(self, message: StepMessage) -> int:
        """Apply a message's steps not applied before; return how many were applied."""
        fresh = []
        for step in message.steps:
            topic, offset = step.origin if step.origin is not None else ("", -1)
            if offset < self.watermarks.get(f"{topic}:{message.source}", 0):
                self.duplicates += 1
            else:
                fresh.append(step)
        for step, changed in zip(fresh, self.mf.apply_item_steps(fresh), strict=True):
            self.dirty.update(changed)
            self.negatives += max(len(changed) - 1, 0)  # the item's own is first
            item = step.item_id
            self.dirty_counts.update((item, scope) for scope in self.trending.add(
                item, step.weight, step.ts, step.location, step.condition))
        for scope, items in self.trending.evict().items():  # its items leave the stored sets
            self.dropped.add(scope)
            self.dirty_counts.update((item, scope) for item in items)
        self.applied += len(fresh)
        for topic, offset in message.watermark.items():
            key = f"{topic}:{message.source}"
            self.watermarks[key] = max(self.watermarks.get(key, 0), offset)
        return len(fresh)

    def take_dirty(self) -> dict[str, tuple[np.ndarray, float] | None]:
        """The changed items' vectors and TTL clocks (None: expired), to broadcast and store."""
        changed: dict[str, tuple[np.ndarray, float] | None] = {}
        for item in self.dirty:
            vec = self.mf.item_vector(item)
            changed[item] = None if vec is None else (vec, self.mf.item_last_seen(item) or 0.0)
        self.dirty = set()
        return changed

    def take_counts(self) -> dict[tuple[str, str], float | None]:
        """The changed trending sums, relative to ``trending.landmark`` (None: expired, or its
        scope dropped)."""
        changed: dict[tuple[str, str], float | None] = {}
        for item, scope in self.dirty_counts:
            changed[(item, scope)] = self.trending.count(item, scope)
        self.dirty_counts = set()
        return changed

    def take_dropped(self) -> set[str]:
        """The trending scopes dropped since the last time (some may be counted again since)."""
        dropped, self.dropped = self.dropped, set()
        return dropped

    def expire(self) -> list[str]:
        """Forget items unseen for the TTL (event time); they are broadcast as removed."""
        _, expired = self.mf.expire(self.mf.clock)
        self.dirty.update(expired)
        # Items still below the frequency filter expire silently in the model: these too.
        items = set(expired) | {item for item in self.trending.items()
                                if not self.mf.tracks(item)}
        for item in items:
            self.dirty_counts.update((item, scope) for scope in self.trending.drop_item(item))
        return sorted(items)

    def figures(self) -> dict[str, Any]:
        return {"applied": self.applied, "negatives": self.negatives,
                "duplicates": self.duplicates, "rejected": self.rejected,
                "items": self.mf.n_items,
                "offset": self.offset}
