"""The worker's reading of highwaters after a batch's awaits, when a rebalance came between."""

from __future__ import annotations

from aiokafka import TopicPartition

from stream.transport.fetched import fetched_to_end, known_ends


class Revoking:
    """aiokafka's consumer as a rebalance leaves it: asking a revoked partition's highwater
    fails its assertion."""

    def __init__(self, assigned: set[TopicPartition], highwater: int) -> None:
        self.assigned = assigned
        self.mark = highwater

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def highwater(self, tp: TopicPartition) -> int:
        assert tp in self.assigned, "Partition is not assigned"
        return self.mark


class Message:
    offset = 9


KEPT, GONE = TopicPartition("shop.clicks", 0), TopicPartition("shop.clicks", 1)


def test_a_partition_revoked_since_the_fetch_has_no_end_and_stops_nothing():
    consumer = Revoking({KEPT}, highwater=10)
    assert known_ends(consumer, [KEPT, GONE], {"shop.clicks"}) == {("shop.clicks", 0): 10}


def test_a_fetch_of_a_revoked_partition_is_not_the_end_of_a_backlog():
    consumer = Revoking({KEPT}, highwater=10)
    assert fetched_to_end(consumer, {KEPT: [Message()]})
    assert not fetched_to_end(consumer, {KEPT: [Message()], GONE: [Message()]})
