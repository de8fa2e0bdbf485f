"""The learner's async shell: reads what the core asks for, runs the checkpoint, keeps time.

:class:`Learner` holds no learning logic of its own (that is :class:`LearnerCore`): it restores
and snapshots shards through the store, reads the context a batch needs, hands the core's plans
to the :class:`Checkpoint`, and decides when to publish and to snapshot. The rebalance callbacks
and the broadcast run beside the consume loop, so one operation on the shards runs at a time.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

from models.ranker.serving import LiveRanker
from stream.contracts.internal import Changes
from stream.contracts.records import Decoded, Record
from stream.learning.cadence import PublishCadence
from stream.learning.checkpoint import Checkpoint, LearnerStore, Snapshot
from stream.learning.core import LearnerCore
from stream.learning.item_shard import ItemShard
from stream.learning.snapshots import SnapshotRejected
from stream.learning.turns import Turns
from stream.learning.user_shard import RELEASED_PER_BATCH, UserShard

log = logging.getLogger(__name__)
S = TypeVar("S", UserShard, ItemShard)
KINDS = ("user", "items")
Commit = Callable[[], Awaitable[None]]


class Learner:
    """This worker's user shards and item shards: restore, learn, export and snapshot them."""

    def __init__(self, core: LearnerCore, store: LearnerStore, checkpoint: Checkpoint, *,
                 snapshot_every_s: float, publish_every_s: float,
                 publish_every_event_s: float | None = None, ranker: LiveRanker | None = None
                 ) -> None:
        self.core = core
        # The worker's live ranker, bound to every shard adopted: what a shard's evaluator
        # scores is what the worker serves, requests or not (`evaluate --ranker` sends none).
        self.ranker = ranker
        self.store = store
        self.checkpoint = checkpoint
        self.snapshot_every_s = snapshot_every_s
        # The item shards publish by the wall clock, and by event time in a replay or a backlog
        # (stream/learning/cadence.py).
        self.cadence = PublishCadence(publish_every_s, publish_every_event_s, time.monotonic())
        # When each shard (kind, partition) was last snapshotted: one is taken per batch at
        # most, the most overdue, so the pauses spread instead of piling up.
        self._snapshot_at: dict[tuple[str, int], float] = {}
        self._lock = asyncio.Lock()
        self._gc = FrozenHeap()

    # --- partitions ---------------------------------------------------------------------------
    async def assign(self, partitions: Sequence[int]) -> dict[tuple[str, int], int]:
        """Restore the shards of newly assigned partitions; return the offsets they cover."""
        async with self._lock:
            covered: dict[tuple[str, int], int] = {}
            for partition in partitions:
                shard = await self._restore("user", partition, UserShard)
                items = await self._restore("items", partition, ItemShard)
                covered.update(self.core.adopt(partition, shard, items))
                if self.ranker is not None:
                    self.core.shards[partition].rank_with(self.ranker)
                for kind in KINDS:  # a random phase: workers' snapshots do not align
                    self._snapshot_at.setdefault((kind, partition), time.monotonic()
                                                 - random.uniform(0, self.snapshot_every_s))
            return covered

    async def revoke(self, partitions: Sequence[int]) -> None:
        """Snapshot the shards given up, for their next owner, and forget them."""
        async with self._lock:
            due = [(kind, partition) for partition in partitions for kind in KINDS
                   if (kind, partition) in self._snapshot_at]
            await self._checkpoint(self._snapshots(due))
            for partition in partitions:
                for kind in KINDS:
                    self._snapshot_at.pop((kind, partition), None)
                self.core.release(partition)

    async def snapshot_all(self) -> None:
        async with self._lock:
            await self._checkpoint(self._snapshots(list(self._snapshot_at)))

    async def _restore(self, kind: str, partition: int, expected: type[S]) -> S | None:
        """A verified snapshot of a shard this worker does not hold yet, or None (held, none
        yet, or refused: never unpickled)."""
        held = self.core.shards if kind == "user" else self.core.item_shards
        if partition in held:
            return None
        blob = await self.store.load_snapshot(kind, partition)
        if blob is None:
            return None
        what = f"shard {partition}" if kind == "user" else f"item shard {partition}"
        try:
            shard = self.checkpoint.codec.decode(blob, f"{kind}:{partition}")
        except SnapshotRejected as exc:
            # Start the shard again from the beginning of the retained log.
            log.error("snapshot of %s refused (%s): learning it again", what, exc)
            return None
        if not isinstance(shard, expected):
            log.error("snapshot of %s holds a %s: learning it again", what, type(shard).__name__)
            return None
        log.info("%s restored", what)
        return shard

    # --- batches ------------------------------------------------------------------------------
    async def learn(self, batch: Sequence[Decoded], caught_up: bool = False,
                    steps: Sequence[Record] = (), commit: Commit | None = None,
                    ends: Mapping[tuple[str, int], int] | None = None,
                    slice_size: int | None = None) -> int:
        """Apply the item steps, learn the batch, then checkpoint; how many were learned.

        ``ends``: the highwater offsets of the user-keyed topic partitions, where known (see
        :meth:`LearnerCore.learn`). ``slice_size``: learn that many events at a time, and at
        most that many of the events a shard held back, and let the event loop run between
        (requests are answered there); the item steps likewise, in timed turns. Every shard
        is whole between slices, as after a smaller batch, and the batch takes one checkpoint.
        Slices of held events go on after the batch's own until none is due or a batch's worth
        (``RELEASED_PER_BATCH``) was learned so: a backlog released at once (the impressions a
        shard waited for came in) is learned in as many turns as it takes."""
        async with self._lock:
            await self.checkpoint.run()  # what an earlier, failed run left
            await self._apply_steps(steps, sliced=slice_size is not None)
            now = time.monotonic()
            query = self.core.query(batch, now)
            # Reads first: if Redis fails here the batch is retried with nothing learned.
            if query:
                self.core.take_context(query, await self.store.read_context(query), now)
            before = self._learned()
            size = slice_size or len(batch) or 1
            slices = [batch[at:at + size] for at in range(0, len(batch), size)] or [batch]
            for n, part in enumerate(slices):
                if n:
                    await asyncio.sleep(0)
                self.checkpoint.add(self.core.learn(part, caught_up and n == len(slices) - 1,
                                                    ends, slice_size))
            if slice_size is not None:
                for _ in range(RELEASED_PER_BATCH // slice_size):
                    if not self.core.due:
                        break
                    await asyncio.sleep(0)
                    self.checkpoint.add(self.core.learn((), caught_up, ends, slice_size))
            learned = self._learned() - before
            await self._checkpoint(self._snapshots(self._due()), commit)
            self._gc.tick()
            return learned

    async def _apply_steps(self, steps: Sequence[Record], sliced: bool) -> None:
        """The item steps for this worker's item shards; ``sliced``: message by message, with
        turns of the event loop between (:mod:`stream.learning.turns`)."""
        if not sliced:
            self.checkpoint.add(self.core.apply_steps(steps))
            return
        turns = Turns()
        for record in steps:
            await turns.take()
            self.checkpoint.add(self.core.apply_steps((record,)))

    def read_first(self) -> set[tuple[str, int]]:
        """(topic, partition)s to read before the rest (:meth:`LearnerCore.read_first`): behind
        a backlog aiokafka hands over one partition's fetched records before the next one's
        (one fetch of the synthetic shop's clicks held all 62,291)."""
        return self.core.read_first()

    async def idle(self) -> int:
        """Nothing was waiting: learn the open baskets, publish what is due."""
        async with self._lock:
            before = self._learned()
            self.checkpoint.add(self.core.close_baskets())
            await self._checkpoint()
            return self._learned() - before

    async def receive(self, changes: Changes) -> None:
        async with self._lock:
            self.checkpoint.add(self.core.receive(changes))

    async def _checkpoint(self, snapshots: Sequence[Snapshot] = (),
                          commit: Commit | None = None) -> None:
        now, clock = time.monotonic(), self.core.item_clock()
        if self.cadence.due(now, clock) or snapshots:
            self.checkpoint.add(self.core.publish())
            self.cadence.published(now, clock)
        await self.checkpoint.run(snapshots, commit)
        for kind, partition, _ in snapshots:
            self._snapshot_at[(kind, partition)] = time.monotonic()

    def _due(self) -> list[tuple[str, int]]:
        """The most overdue shard, if one is due (at most one per batch)."""
        if not self._snapshot_at:
            return []
        shard, at = min(self._snapshot_at.items(), key=lambda entry: entry[1])
        return [shard] if time.monotonic() - at >= self.snapshot_every_s else []

    def _snapshots(self, due: Sequence[tuple[str, int]]) -> list[Snapshot]:
        snapshots: list[Snapshot] = []
        for kind, partition in due:
            shard = self.core.for_snapshot(kind, partition)
            if shard is not None:
                snapshots.append((kind, partition, shard))
        return snapshots

    def _learned(self) -> int:
        return sum(shard.learned for shard in self.core.shards.values())


class FrozenHeap:
    """Keeps Python's cycle collector off the shards' long-lived objects.

    The shards are millions of long-lived objects (counters, profiles, hashed weights) without
    reference cycles. Under load Python's full collection walked them all every 2 to 5 s
    (~100 ms each, a latency spike each time, freeing nothing). Every ``freeze_every_s`` what
    exists is frozen (left to reference counting; the collector walks only what is newer), and
    every ``collect_every_s`` one full collection reclaims any cycles frozen meanwhile.

    The youngest generation is collected after ``young`` new objects instead of Python's 700:
    learning and answering make tens of thousands of short-lived objects a second, and with
    collections every 700 the collector walked them before reference counting freed them, 3 to
    8% of a worker's CPU under `recstream bench serve` (measured with ``gc.callbacks``).
    """

    def __init__(self, freeze_every_s: float = 5.0, collect_every_s: float = 600.0,
                 young: int = 20_000) -> None:
        self.freeze_every_s = freeze_every_s
        self.collect_every_s = collect_every_s
        self._frozen_at = self._collected_at = time.monotonic()
        gc.set_threshold(young, *gc.get_threshold()[1:])

    def tick(self) -> None:
        now = time.monotonic()
        if now - self._collected_at > self.collect_every_s:
            gc.unfreeze()
            gc.collect()
            self._collected_at = now
        if now - self._frozen_at > self.freeze_every_s:
            gc.freeze()
            self._frozen_at = now
