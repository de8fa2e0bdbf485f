"""The checkpoint: messages, then values, then snapshots, then offsets; nothing lost on a
failure, what failed goes first next time (with the broker and Redis kept in memory)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np
import pytest

from stream.contracts.records import Message
from stream.learning import snapshots
from stream.learning import turns as loop_turns
from stream.learning.checkpoint import Checkpoint
from stream.learning.context import ContextAnswers, ContextQuery
from stream.learning.plan import Plan
from stream.learning.snapshots import SnapshotCodec


class Broker:
    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.sent: list[Message] = []
        self.log: list[str] = []

    async def send(self, messages: Sequence[Message]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker away")
        self.sent.extend(messages)
        self.log.append("send")


class Store:
    def __init__(self, log: list[str], failures: int = 0) -> None:
        self.log = log
        self.failures = failures
        self.written: list[Plan] = []
        self.snapshots: dict[tuple[str, int], bytes] = {}

    async def read_context(self, query: ContextQuery) -> ContextAnswers:
        raise AssertionError("not read by the checkpoint")

    async def write(self, plan: Plan) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("redis away")
        self.written.append(plan)
        self.log.append("write")

    async def load_snapshot(self, kind: str, partition: int) -> bytes | None:
        return self.snapshots.get((kind, partition))

    async def save_snapshot(self, kind: str, partition: int, blob: bytes) -> None:
        self.snapshots[(kind, partition)] = blob
        self.log.append(f"snapshot {kind}:{partition}")


def message(n: int) -> Message:
    return ("learn.item-steps", 0, b"0", str(n).encode())


def setup(broker_failures: int = 0, store_failures: int = 0):
    broker = Broker(broker_failures)
    store = Store(broker.log, store_failures)
    return Checkpoint(broker, store, SnapshotCodec(b"k" * 32)), broker, store


def test_the_steps_run_in_order_messages_values_snapshots_offsets():
    checkpoint, broker, _store = setup()
    checkpoint.add(Plan(messages=[message(1)], user_vectors={"ann": np.ones(2)}))

    async def commit() -> None:
        broker.log.append("commit")

    asyncio.run(checkpoint.run([("user", 0, {"learned": 1})], commit))  # type: ignore[list-item]
    assert broker.log == ["send", "write", "snapshot user:0", "commit"]


def test_a_failed_send_keeps_everything_and_it_goes_first_next_time():
    checkpoint, broker, store = setup(broker_failures=1)
    checkpoint.add(Plan(messages=[message(1)], figures={0: {"learned": 1}}))
    with pytest.raises(ConnectionError):
        asyncio.run(checkpoint.run())
    assert broker.sent == [] and store.written == []  # nothing stored before the send
    checkpoint.add(Plan(messages=[message(2)], figures={0: {"learned": 2}}))
    asyncio.run(checkpoint.run())
    assert broker.sent == [message(1), message(2)]
    assert store.written[0].figures == {0: {"learned": 2}}  # the latest figures win


def test_a_failed_write_is_written_again_but_its_messages_are_not_sent_again():
    checkpoint, broker, store = setup(store_failures=1)
    checkpoint.add(Plan(messages=[message(1)], item_vectors={"tea": np.zeros(2)}))
    with pytest.raises(ConnectionError):
        asyncio.run(checkpoint.run())
    asyncio.run(checkpoint.run())
    assert broker.sent == [message(1)]
    assert list(store.written[0].item_vectors) == ["tea"]


def test_no_snapshot_is_taken_while_messages_are_unsent():
    checkpoint, _broker, store = setup(broker_failures=1)
    checkpoint.add(Plan(messages=[message(1)]))
    with pytest.raises(ConnectionError):
        asyncio.run(checkpoint.run([("items", 2, {"applied": 3})]))  # type: ignore[list-item]
    assert store.snapshots == {}


class Shard:
    """A shard with one table of rows."""

    def __init__(self, table: dict) -> None:
        self.table = table


def test_a_snapshot_lets_the_event_loop_run_while_it_is_pickled(monkeypatch):
    monkeypatch.setattr(loop_turns, "TURN_S", 0.0)  # a turn after every step
    rows = {f"u{n}": {"tea": 1.0} for n in range(4 * snapshots.CHUNK)}

    async def turns(shard: object) -> int:
        checkpoint, _broker, _store = setup()
        running = asyncio.ensure_future(
            checkpoint.run([("user", 0, shard)]))  # type: ignore[list-item]
        taken = 0
        while not running.done():
            taken += 1
            await asyncio.sleep(0)
        running.result()
        return taken

    assert asyncio.run(turns(Shard(rows))) >= asyncio.run(turns(Shard({}))) + 4
