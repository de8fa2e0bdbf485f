"""When a worker's item shards publish what they changed: by the wall clock or by event time.

An item's owner broadcasts its changed vectors and trending parts every ``wall_s`` seconds
(``item_vector_publish_s``): each broadcast message costs every worker a read, and an item moves
little per event. What a user shard misses meanwhile is counted in events, though: at live
speed a second holds the few events of a second, but a replay or a backlog runs the shop's
hours through in seconds, and the same second then holds thousands of events learned against
vectors and counts from before them. Measured (docs/evaluation.md): on the first 60,000 Online
Retail purchases, HR@20 fell from 0.0558 to 0.0467 when the vectors came back every 10,000
events instead of every 1,000.

So the shards also publish once their event clock (the latest event time they applied) has
moved ``event_s`` since the last time: live, event time keeps pace with the wall clock and
nothing changes; in a replay every batch is published, and a user shard learns each event with
about the freshness it would have had live.

>>> cadence = PublishCadence(wall_s=1.0, event_s=1.0, wall=100.0)
>>> cadence.due(wall=100.5, event=5_000.0)  # the first event time seen: the reference
False
>>> cadence.due(wall=100.6, event=5_000.4), cadence.due(wall=100.7, event=5_030.0)
(False, True)
>>> cadence.published(wall=100.7, event=5_030.0)
>>> cadence.due(wall=101.8, event=5_030.0)  # a quiet shop: the wall clock still publishes
True
"""

from __future__ import annotations


class PublishCadence:
    """Due every ``wall_s`` seconds of wall time, or every ``event_s`` of event time (None:
    by the wall clock only), whichever comes first; see the module."""

    def __init__(self, wall_s: float, event_s: float | None, wall: float) -> None:
        self.wall_s = wall_s
        self.event_s = event_s
        self._wall_at = wall  # wall time of the last publish (or of the start)
        self._event_at: float | None = None  # event time of the last publish, once one is known

    def due(self, wall: float, event: float) -> bool:
        """Whether to publish now, at wall time ``wall`` with the shards' event clock at
        ``event``."""
        if wall - self._wall_at >= self.wall_s:
            return True
        if self.event_s is None:
            return False
        if self._event_at is None:
            self._event_at = event
            return False
        return event - self._event_at >= self.event_s

    def published(self, wall: float, event: float) -> None:
        """What was changed up to these times is published."""
        self._wall_at = wall
        self._event_at = event
