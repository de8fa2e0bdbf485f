"""While requests come, the learner learns a batch in slices and lets the event loop run between
them (requests are answered there); what it learns is what it learns from the batch whole. A
backlog a shard held back, and the item steps, go in turns too."""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import Sequence

import numpy as np

from stream.contracts.records import Decoded, Message, Record
from stream.learning import turns as loop_turns
from stream.learning.checkpoint import Checkpoint
from stream.learning.context import ContextAnswers, ContextQuery
from stream.learning.core import LearnerCore
from stream.learning.plan import Plan
from stream.learning.shell import Learner
from stream.learning.snapshots import SnapshotCodec
from stream.settings import LearningSettings, TopicSettings
from stream.transport.partitioner import partition_of
from tests.unit.learning.test_core import Stream
from tests.unit.learning.test_merge import CLICKS, PURCHASES, click, purchase

TOPICS = TopicSettings()


class Store:
    """Redis as a learner sees it, knowing nothing and keeping nothing."""

    async def read_context(self, query: ContextQuery) -> ContextAnswers:
        return ContextAnswers(dict.fromkeys(query.users), {}, dict.fromkeys(query.items))

    async def write(self, plan: Plan) -> None:
        pass

    async def load_snapshot(self, kind: str, partition: int) -> bytes | None:
        return None

    async def save_snapshot(self, kind: str, partition: int, blob: bytes) -> None:
        pass


class Broker:
    """Acknowledges every message and keeps it."""

    def __init__(self) -> None:
        self.sent: list[Message] = []

    async def send(self, messages: Sequence[Message]) -> None:
        self.sent.extend(messages)


def learner(broker: Broker | None = None) -> Learner:
    core = LearnerCore(LearningSettings(min_item_count=1, eval_sample_every=1), TOPICS,
                       exclude_purchased=True,
                       partition_of=functools.partial(partition_of, partitions=1))
    store = Store()
    return Learner(core, store, Checkpoint(broker or Broker(), store, SnapshotCodec(b"k" * 32)),
                   snapshot_every_s=3600, publish_every_s=3600)


def batch() -> list[Decoded]:
    stream = Stream()
    events = [stream.click(f"u{n % 4}", f"i{n % 7}") for n in range(20)]
    return events + stream.order("u1", "o1", "i2", "i3") + [stream.click("u1", "i5")]


def learn(slice_size: int | None) -> tuple[Learner, int, int]:
    """A fresh learner learns the batch; how many it learned and how many turns the event loop
    took meanwhile."""
    async def run() -> tuple[Learner, int, int]:
        shell = learner()
        await shell.assign([0])
        turns = 0
        learning = asyncio.ensure_future(shell.learn(batch(), caught_up=True,
                                                     slice_size=slice_size))
        while not learning.done():
            turns += 1
            await asyncio.sleep(0)
        return shell, learning.result(), turns

    return asyncio.run(run())


def test_a_batch_learned_in_slices_lets_the_event_loop_run_between_them():
    _, _, whole_turns = learn(slice_size=None)
    _, _, sliced_turns = learn(slice_size=4)
    assert sliced_turns >= whole_turns + len(batch()) // 4 - 1


def test_a_batch_learned_in_slices_is_learned_as_it_is_whole():
    whole, learned_whole, _ = learn(slice_size=None)
    sliced, learned_sliced, _ = learn(slice_size=4)
    assert learned_sliced == learned_whole > 0
    shard_whole, shard_sliced = whole.core.shards[0], sliced.core.shards[0]
    assert shard_sliced.offsets == shard_whole.offsets
    for user in ("u0", "u1", "u2", "u3"):
        np.testing.assert_array_equal(shard_sliced.model.embeddings.user_vector(user),
                                      shard_whole.model.embeddings.user_vector(user))


async def learned_per_turn(shell: Learner, batch: list[Decoded], ends: dict[str, int],
                           slice_size: int | None) -> list[int]:
    """Learn the batch; what the shard had learned at each turn of the event loop meanwhile."""
    shard = shell.core.shards[0]
    learning = asyncio.ensure_future(shell.learn(
        batch, caught_up=True, ends={(topic, 0): end for topic, end in ends.items()},
        slice_size=slice_size))
    seen = [shard.learned]
    while not learning.done():
        await asyncio.sleep(0)
        seen.append(shard.learned)
    return seen


def test_a_backlog_released_at_once_is_learned_in_slices_while_requests_come():
    async def run(slice_size: int | None) -> list[int]:
        shell = learner()
        await shell.assign([0])
        # Six purchases read ahead of the clicks: held until the clicks are read past them.
        held = [purchase(n, f"u{n}", "tea", minute=10 + n) for n in range(6)]
        await learned_per_turn(shell, held, {CLICKS: 1, PURCHASES: 6}, slice_size)
        assert shell.core.shards[0].learned == 0
        return await learned_per_turn(shell, [click(0, "ann", "jam", minute=60)],
                                      {CLICKS: 1, PURCHASES: 6}, slice_size)

    sliced, whole = asyncio.run(run(slice_size=2)), asyncio.run(run(slice_size=None))
    assert sliced[-1] == whole[-1] == 7  # all held, then the click
    assert max(b - a for a, b in itertools.pairwise(sliced)) <= 2
    assert max(b - a for a, b in itertools.pairwise(whole)) == 7


def test_item_steps_are_applied_in_turns_while_requests_come(monkeypatch):
    monkeypatch.setattr(loop_turns, "TURN_S", 0.0)  # a turn after every message

    async def turns(slice_size: int | None) -> tuple[int, int]:
        broker = Broker()
        shell = learner(broker)
        await shell.assign([0])
        stream = Stream()
        for n in range(3):  # three batches, three item-step messages
            await shell.learn([stream.click(f"u{n}", "tea"), stream.click(f"u{n}", "jam")],
                              caught_up=True)
        steps = [Record(topic, partition or 0, offset, key, value)
                 for offset, (topic, partition, key, value) in enumerate(
                     m for m in broker.sent if m[0] == TOPICS.item_steps)]
        learning = asyncio.ensure_future(shell.learn([], steps=steps, slice_size=slice_size))
        taken = 0
        while not learning.done():
            taken += 1
            await asyncio.sleep(0)
        return len(steps), taken

    messages, sliced = asyncio.run(turns(slice_size=4))
    _, whole = asyncio.run(turns(slice_size=None))
    assert messages == 3 and sliced >= whole + messages - 1
