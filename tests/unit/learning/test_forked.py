"""A snapshot is pickled in a forked child: the event loop runs meanwhile, the bytes are of the
state at the call whatever changes while they are made, and a failure in the child is raised in
the parent, which carries on."""

from __future__ import annotations

import asyncio
import os
import pickle

import pytest

from stream.learning.forked import ChildFailed, in_child
from stream.learning.snapshots import SnapshotCodec

CODEC = SnapshotCodec(b"k" * 32)


def big_state() -> dict[str, list[int]]:
    """Enough to keep a child pickling for tens of milliseconds."""
    return {f"user-{n}": list(range(n % 50)) for n in range(60_000)}


def make_beside_a_ticker(state: dict[str, list[int]]) -> tuple[bytes, int]:
    """The signed snapshot of ``state`` made in a child, while a task changes the state every
    turn of the event loop; the snapshot and how many turns the loop took meanwhile."""
    async def run() -> tuple[bytes, int]:
        turns = 0

        async def tick() -> None:
            nonlocal turns
            while True:
                await asyncio.sleep(0.001)
                turns += 1
                state[f"late-{turns}"] = [turns]

        ticker = asyncio.ensure_future(tick())
        await asyncio.sleep(0)
        blob = await in_child(lambda: CODEC.encode(state, "user:0"))
        ticker.cancel()
        return blob, turns

    return asyncio.run(run())


def test_the_event_loop_runs_while_the_child_pickles():
    _, turns = make_beside_a_ticker(big_state())
    assert turns > 0


def test_the_snapshot_holds_the_state_as_it_was_when_it_was_asked_for():
    state = big_state()
    expected = pickle.loads(pickle.dumps(state))
    blob, turns = make_beside_a_ticker(state)
    assert turns > 0 and any(key.startswith("late-") for key in state)  # changed meanwhile
    assert CODEC.decode(blob, "user:0") == expected


def test_what_the_child_raises_is_raised_in_the_parent_which_carries_on():
    unpicklable = {"callback": lambda: None}

    async def run() -> bytes:
        with pytest.raises(ChildFailed, match=r"[Pp]ickl"):
            await in_child(lambda: CODEC.encode(unpicklable, "user:0"))
        return await in_child(lambda: b"still here")

    assert asyncio.run(run()) == b"still here"


def test_a_child_that_dies_is_reported_not_read_as_a_snapshot():
    def die() -> bytes:
        os._exit(3)

    with pytest.raises(ChildFailed, match="exit status 3"):
        asyncio.run(in_child(die))
