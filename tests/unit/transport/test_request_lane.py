"""The request lane: requests are read while earlier ones are still being answered, and their
offsets are committed in the order they were read, never past a batch not yet answered."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from aiokafka import TopicPartition

from stream.contracts.records import Record
from stream.settings import Settings
from stream.transport.request_lane import RequestLane

T = TypeVar("T")
REQUESTS = TopicPartition("reco.requests", 0)


class Message:
    """A fetched request record as aiokafka hands it over."""

    def __init__(self, offset: int) -> None:
        self.topic, self.partition, self.offset = REQUESTS.topic, REQUESTS.partition, offset
        self.key, self.value, self.timestamp, self.headers = b"u1", b"{}", 0, []


class Consumer:
    """Hands over one request per fetch, then nothing; records what is committed."""

    def __init__(self, offsets: Sequence[int]) -> None:
        self.pending = [Message(offset) for offset in offsets]
        self.committed: list[dict[TopicPartition, int]] = []

    def assignment(self) -> set[TopicPartition]:
        return {REQUESTS, TopicPartition("shop.clicks", 0)}

    async def getmany(self, *partitions: TopicPartition, timeout_ms: int = 0,
                      max_records: int | None = None) -> dict[TopicPartition, list[Message]]:
        assert partitions == (REQUESTS,), "the lane reads its request partitions only"
        if self.pending:
            return {REQUESTS: [self.pending.pop(0)]}
        await asyncio.sleep(timeout_ms / 1000)
        return {}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.committed.append(offsets)


class Server:
    """Answers the request at offset 0 only once released; the others at once."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.answered: list[int] = []

    async def answer(self, records: Sequence[Record]) -> None:
        if records[0].offset == 0:
            await self.release.wait()
        self.answered += [record.offset for record in records]


class Worker:
    def __init__(self, consumer: Consumer, server: Server) -> None:
        self.consumer: Any = consumer
        self.server = server
        self.should_stop = False

    def add_future(self, coro: Awaitable) -> asyncio.Future:
        return asyncio.ensure_future(coro)

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        return await call()


async def _run_until(worker: Worker, done: Callable[[], bool]) -> None:
    lane = RequestLane(Settings().replace(batch_max_age_s=0.01))
    running = asyncio.ensure_future(lane.run(worker))
    for _ in range(500):
        if done():
            break
        await asyncio.sleep(0.01)
    worker.should_stop = True
    await running


def test_a_slow_answer_holds_back_neither_the_next_requests_nor_the_order_of_commits():
    async def scenario() -> tuple[list[int], list[int], list[dict[TopicPartition, int]]]:
        consumer, server = Consumer([0, 1, 2]), Server()
        worker = Worker(consumer, server)
        answered_while_first_pending: list[int] = []

        async def release_later() -> None:
            while len(server.answered) < 2:  # 1 and 2 are answered while 0 still waits
                await asyncio.sleep(0.01)
            answered_while_first_pending.extend(server.answered)
            assert consumer.committed == [], "nothing is committed past an unanswered request"
            server.release.set()

        releasing = asyncio.ensure_future(release_later())
        await _run_until(worker, lambda: len(consumer.committed) == 3)
        await releasing
        return answered_while_first_pending, server.answered, consumer.committed

    while_pending, answered, committed = asyncio.run(scenario())
    assert while_pending == [1, 2]
    assert sorted(answered) == [0, 1, 2]
    assert committed == [{REQUESTS: 1}, {REQUESTS: 2}, {REQUESTS: 3}]
