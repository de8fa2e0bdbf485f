"""Exposure for new items: an item nobody has bought yet can't be learned until someone sees it.

Every ranking source learns from interactions, so an item added to the catalogue today would
never be proposed: no co-visits, no embedding worth the name, no trending mass. :class:`NewItems`
keeps the items first seen recently (in the catalogue or in a first interaction) with how often
each was shown and acted on; a long enough list gives its last place to the new
item shown least so far (:meth:`NewItems.pick`). An item leaves the queue once it has had
``exposures`` showings, ``enough`` interactions (from then on the sources know it) or
``max_age_s`` of age; the queue keeps the newest ``kept`` items, and the memory of which items
were ever seen (only a first sighting is new) the latest ``remembered``.

>>> new = NewItems(exposures=2)
>>> new.seen("kite", ts=0.0); new.seen("yoyo", ts=1.0)
>>> [new.pick(now=2.0, excluded=set()) for _ in range(5)]
['kite', 'yoyo', 'kite', 'yoyo', None]
"""

from __future__ import annotations

from collections.abc import Set

__all__ = ["NewItems"]


class NewItems:
    """New items and their exposure so far; see the module docstring.

    Defaults: two days (a new item is new for the shop's next two days of visitors), 100
    showings (about a hundred views tell a hit from a dud at a shop's typical click rates), 5
    interactions (the sources propose an item once it has a few), 200 items in the queue (a pick
    scans it, so it stays cheap per request).
    """

    def __init__(self, max_age_s: float = 2 * 86_400.0, exposures: int = 100, enough: int = 5,
                 kept: int = 200, remembered: int = 200_000) -> None:
        self.max_age_s = max_age_s
        self.exposures = exposures
        self.enough = enough
        self.kept = kept
        self.remembered = remembered
        self._known: dict[str, None] = {}  # items seen, oldest first
        self._queue: dict[str, list[float]] = {}  # item -> [first seen, shown, interactions]

    def seen(self, item_id: str, ts: float) -> None:
        """A catalogue entry or an interaction names ``item_id`` at ``ts``."""
        if item_id in self._known:
            return
        self._known[item_id] = None
        if len(self._known) > self.remembered:
            del self._known[next(iter(self._known))]
        self._queue[item_id] = [ts, 0, 0]
        if len(self._queue) > self.kept:
            del self._queue[next(iter(self._queue))]  # the oldest

    def acted_on(self, item_id: str) -> None:
        """An interaction with ``item_id``: enough of them and it is new no more."""
        entry = self._queue.get(item_id)
        if entry is not None:
            entry[2] += 1
            if entry[2] >= self.enough:
                del self._queue[item_id]

    def pick(self, now: float, excluded: Set[str]) -> str | None:
        """The new item shown least so far (the oldest among equals) outside ``excluded``,
        counted as shown once more; None when there is none."""
        best: str | None = None
        fewest = self.exposures
        for item, (first, shown, _) in list(self._queue.items()):
            if now - first > self.max_age_s or shown >= self.exposures:
                del self._queue[item]
            elif shown < fewest and item not in excluded:
                best, fewest = item, int(shown)
        if best is not None:
            self._queue[best][1] += 1
        return best
