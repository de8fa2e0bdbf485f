"""A partition's user-keyed topics, learned in event time however far one was read ahead.

Clicks, purchases and impressions of partition ``p`` are three Kafka partitions, fetched
independently. Behind a backlog (a replay, a restart, a worker slower than the shop) the
consumer reads a small topic far ahead of a large one: on the synthetic shop's replay it handed
over every purchase of four weeks with the first batches of clicks. Learned in the order fetched,
each purchase came before the clicks that led to it, and each click was then scored against a
model that knew the user would buy the item (so its item was excluded as bought, and the click
not counted): the worker's HR@20 fell from 0.201 to 0.178 (docs/evaluation.md).

So a shard holds an event back until every topic that still has unread records has been read
past the event's time, and learns what it held in event time: the merge Kafka Streams makes
when it picks the record with the smallest timestamp among its partitions' heads. A topic read
to its end (its *end*, the highwater offset, reached) holds nothing back, or a quiet topic would
stall the others; nor does one whose end is not known. ``max_held`` bounds what waits: past it the
earliest events go on (the order then holds only within the ``max_held`` latest).

>>> merge = EventTimeMerge()
>>> merge.add("purchases", 0, ts=50.0, rank=2, line="buy tea")  # read ahead of the clicks
>>> merge.add("clicks", 0, ts=10.0, rank=1, line="see tea")
>>> merge.due(behind={"clicks"})  # clicks has unread records, none before 10 s
['see tea']
>>> merge.lowest()  # purchases from offset 0 on are not learned yet
{'purchases': 0}
>>> merge.add("clicks", 1, ts=60.0, rank=1, line="see jam")
>>> merge.due(behind={"clicks"})  # clicks was read past 50 s
['buy tea', 'see jam']
>>> merge.add("purchases", 1, ts=90.0, rank=2, line="buy jam")
>>> merge.due(behind={"clicks"}), merge.due(behind=set())  # then clicks is read to its end
([], ['buy jam'])
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection
from typing import Any


class EventTimeMerge:
    """Events of several topics held until no unread record can precede them; see the module.

    Each topic's events wait in the order read (their offsets' order), and the merge always
    takes the earliest head: as in Kafka Streams, a partition's own order is never changed, so
    everything below a topic's first held offset is learned (the item steps' watermark rests on
    it), even when a topic's event times go back.
    """

    def __init__(self, max_held: int = 50_000) -> None:
        self.max_held = max_held
        # topic -> (ts, rank, offset, line), in the order read. ``rank`` orders heads of equal
        # times: what was shown, then clicked, then bought.
        self._queues: dict[str, deque[tuple[float, int, int, Any]]] = {}
        self._held = 0
        self.latest: dict[str, float] = {}  # topic -> the latest event time read from it

    def __len__(self) -> int:
        return self._held

    def add(self, topic: str, offset: int, ts: float, rank: int, line: Any) -> None:
        """An event read from ``topic`` at ``offset``; ``line`` is what is handed back."""
        self._queues.setdefault(topic, deque()).append((ts, rank, offset, line))
        self._held += 1
        if ts > self.latest.get(topic, float("-inf")):
            self.latest[topic] = ts

    def due(self, behind: Collection[str], most: int | None = None) -> list[Any]:
        """What may be learned now, earliest first: every event that no unread record of the
        topics ``behind`` (those with records past what was read) can precede, and beyond
        ``max_held`` the earliest; at most ``most`` of them (the rest stay, still due)."""
        out: list[Any] = []
        while (most is None or len(out) < most) and (head := self._next(behind)) is not None:
            out.append(head.popleft()[3])
            self._held -= 1
        return out

    def ready(self, behind: Collection[str]) -> bool:
        """Whether an event is due now (one ``due`` would hand back)."""
        return self._next(behind) is not None

    def waits_for(self, behind: Collection[str]) -> set[str]:
        """The topics ``behind`` whose unread records decide what may go next: those with no
        event held (one with events held speaks through its head, which is read)."""
        return {topic for topic in behind if not self._queues.get(topic)} if self._held else set()

    def flush(self, most: int | None = None) -> list[Any]:
        """Everything held (at most ``most``), earliest first: nothing more is to come for now."""
        return self.due((), most)

    def _next(self, behind: Collection[str]) -> deque[tuple[float, int, int, Any]] | None:
        """The queue whose head is due next, if one is."""
        if not self._held:
            return None
        # A topic behind with events held speaks through its head; one with none held, by the
        # latest time read from it (its unread records come after).
        horizon = min((self.latest.get(topic, float("-inf")) for topic in behind
                       if not self._queues.get(topic)), default=float("inf"))
        head = min((queue for queue in self._queues.values() if queue),
                   key=lambda queue: queue[0][:2])
        return head if head[0][0] <= horizon or self._held > self.max_held else None

    def lowest(self) -> dict[str, int]:
        """Per topic, the offset of the first event held: nothing from there on is learned."""
        return {topic: queue[0][2] for topic, queue in self._queues.items() if queue}
