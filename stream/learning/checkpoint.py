"""The checkpoint: what learned batches leave behind, made durable in one fixed order.

1. **Messages**, acknowledged by the broker: first the item steps of learned events, then the
   broadcast of the item shards' changes. A snapshot must never cover events whose item steps
   were never sent, nor changes never broadcast.
2. **Values** to Redis, in one pipeline: user and item vectors, trending places, figures.
3. **Snapshots** of the shards that are due, signed, with the offsets they cover.
4. **Offsets** committed to Kafka (for lag monitoring: where a shard resumes is in its snapshot
   and where the state resumes is in its own transaction).

A step that fails (the broker or Redis away) raises; what was not done stays pending and goes
first next time, so a retried batch, whose events are already learned, loses nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from stream.contracts.records import Message
from stream.learning.context import ContextAnswers, ContextQuery
from stream.learning.item_shard import ItemShard
from stream.learning.plan import Plan
from stream.learning.snapshots import SnapshotCodec
from stream.learning.turns import Turns
from stream.learning.user_shard import UserShard

log = logging.getLogger(__name__)


class Sender(Protocol):
    """Where the learner sends messages, awaiting the broker's acknowledgement of each."""

    async def send(self, messages: Sequence[Message]) -> None: ...


class LearnerStore(Protocol):
    """What the learner reads from and writes to the store (stream/store/learner.py)."""

    async def read_context(self, query: ContextQuery) -> ContextAnswers: ...

    async def write(self, plan: Plan) -> None:
        """Store the plan's vectors, trending places and figures."""

    async def load_snapshot(self, kind: str, partition: int) -> bytes | None: ...

    async def save_snapshot(self, kind: str, partition: int, blob: bytes) -> None: ...


Snapshot = tuple[str, int, UserShard | ItemShard]  # kind ("user" or "items"), partition, shard


class Checkpoint:
    """Carries out plans in the order above, keeping what failed for the next run."""

    def __init__(self, sender: Sender, store: LearnerStore, codec: SnapshotCodec) -> None:
        self.sender = sender
        self.store = store
        self.codec = codec
        self._pending = Plan()

    def add(self, plan: Plan) -> None:
        self._pending.merge(plan)

    async def run(self, snapshots: Sequence[Snapshot] = (),
                  commit: Callable[[], Awaitable[None]] | None = None) -> None:
        pending = self._pending
        if pending.messages:  # 1
            await self.sender.send(pending.messages)
            pending.messages = []
        if pending.writes:  # 2
            await self.store.write(pending)
            self._pending = Plan()
        for kind, partition, shard in snapshots:  # 3
            started = time.perf_counter()
            await self.store.save_snapshot(kind, partition,
                                           await self._encode(shard, f"{kind}:{partition}"))
            log.debug("%s shard %d snapshotted in %.0f ms", kind, partition,
                      1000 * (time.perf_counter() - started))
        if commit is not None:  # 4
            await commit()

    async def _encode(self, shard: UserShard | ItemShard, name: str) -> bytes:
        """The shard's snapshot, in the codec's steps with turns of the event loop between
        (:mod:`stream.learning.turns`): pickled at once, a shard held it 70 to 130 ms. The
        learner's lock is held meanwhile, so no batch, broadcast or rebalance changes it."""
        turns, blob = Turns(), None
        for blob in self.codec.steps(shard, name):
            if blob is None:
                await turns.take()
        assert blob is not None, "the codec's last step is the snapshot"
        return blob
