"""The context a batch needs and this worker may not hold: what to read, and taking the answers.

Weather, catalogue and profile topics are keyed by location, item and user, so their events
reach whichever worker owns those partitions; the state writer stores them in Redis. Before a
batch is learned, :meth:`WorkerContext.query` says which of those facts are missing here (users
without a location, weather reports not read yet, items without a catalogue entry), the shell
reads them in one round trip, and :meth:`WorkerContext.take` files the answers in the
:class:`InteractionBuilder` that joins them to each interaction.

>>> from datetime import UTC, datetime
>>> from stream.contracts.schemas import ClickEvent
>>> context = WorkerContext(default_location="UK")
>>> click = ClickEvent(event_id="e", user_id="u", item_id="tea", ts=datetime(2011, 1, 4, tzinfo=UTC))
>>> query = context.query([click], now=0.0)
>>> query.users, query.weather, query.items
(['u'], {'UK': -1.0}, ['tea'])
>>> answers = ContextAnswers(locations={"u": None}, weather={"UK": [(1.0, Weather("rain", 4.0))]},
...                          items={"tea": None})
>>> context.take(query, answers, now=0.0)  # no catalogue entry newly known
[]
>>> context.query([click], now=1.0)  # the user has no profile; tea is asked again in a while
ContextQuery(users=[], weather={'UK': 1.0}, items=[])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from models.base import ItemInfo
from stream.contracts.schemas import (
    ClickEvent,
    Event,
    Impression,
    ItemUpsert,
    PurchaseEvent,
    UserProfile,
)
from stream.learning.interactions import InteractionBuilder, Weather

# An item without a catalogue entry is asked for again after this long (seconds): its entry is
# ingested by the owner of its partition, maybe another worker, and may arrive later.
UNCATALOGUED_RECHECK_S = 60.0


@dataclass
class ContextQuery:
    """The facts to read: users' profile locations, each location's weather reports newer than
    a time (ms, exclusive), items' catalogue entries."""

    users: list[str]
    weather: dict[str, float]
    items: list[str]

    def __bool__(self) -> bool:
        return bool(self.users or self.weather or self.items)


@dataclass
class ContextAnswers:
    locations: dict[str, str | None]  # user -> profile location (None: none)
    weather: dict[str, list[tuple[float, Weather]]]  # location -> (ts_ms, report), oldest first
    items: dict[str, ItemInfo | None]  # item -> catalogue entry (None: none yet)


class WorkerContext:
    """The builder of interactions and what this worker knows it does not know."""

    def __init__(self, default_location: str | None, max_remembered: int = 50_000) -> None:
        self.default_location = default_location
        # What is read from Redis is a cache here: each map keeps its latest max_remembered
        # entries (a forgotten one is read again when needed), locations a tenth of that.
        self.max_remembered = max_remembered
        self.builder = InteractionBuilder(default_location=default_location)
        self._weather_read: dict[str, float] = {}  # location -> last report's ts_ms read
        # Users whose profile had no location when read. Profiles are keyed by user, so the
        # later ones of this worker's users come through its own batches (and update the
        # builder); the set is cleared when partitions move.
        self._unplaced: set[str] = set()
        # Items without a catalogue entry when read, and when.
        self._uncatalogued: dict[str, float] = {}

    def placed(self, user_id: str) -> None:
        """A profile of the user came through this worker."""
        self._unplaced.discard(user_id)

    def partitions_moved(self) -> None:
        """Another worker may have read profiles of the users now ours."""
        self._unplaced.clear()

    def catalogued(self, info: ItemInfo) -> None:
        self._uncatalogued.pop(info.item_id, None)
        _remember(self.builder.items, info.item_id, info, self.max_remembered)

    def located(self, user_id: str, location: str) -> None:
        _remember(self.builder.user_locations, user_id, location, self.max_remembered)

    def ingested(self, events: Iterable[Event | None]) -> list[ItemInfo]:
        """Take the facts of a batch this worker ingests itself (its users' newer profiles, its
        items' catalogue entries); return the catalogue entries (the models want them)."""
        found = []
        for event in events:
            if isinstance(event, UserProfile):
                if event.location:
                    self.located(event.user_id, event.location)
                self.placed(event.user_id)
            elif isinstance(event, ItemUpsert):
                info = self.builder.feed(event)
                assert isinstance(info, ItemInfo)
                found.append(info)
        return found

    def query(self, events: Sequence[ClickEvent | PurchaseEvent | Impression], now: float
              ) -> ContextQuery:
        known = self.builder
        users = sorted({e.user_id for e in events if not e.location}
                       - known.user_locations.keys() - self._unplaced)
        locations = ({known.location_of(e.user_id, e.location) for e in events}
                     | {self.default_location})
        weather = {location: self._weather_read.get(location, -1.0)
                   for location in sorted(loc for loc in locations if loc is not None)}
        items = sorted(item for item in {e.item_id for e in events
                                         if not isinstance(e, Impression)} - known.items.keys()
                       if now - self._uncatalogued.get(item, -UNCATALOGUED_RECHECK_S)
                       >= UNCATALOGUED_RECHECK_S)
        return ContextQuery(users, weather, items)

    def take(self, query: ContextQuery, answers: ContextAnswers, now: float) -> list[ItemInfo]:
        """File the answers; return the catalogue entries newly known (the models want them)."""
        for user_id in query.users:
            location = answers.locations.get(user_id)
            if location:
                self.located(user_id, location)
            elif len(self._unplaced) < self.max_remembered:
                self._unplaced.add(user_id)
        for location, reports in answers.weather.items():
            for ts_ms, report in reports:
                self.builder.add_weather(location, ts_ms / 1000, report)
            if reports:
                _remember(self._weather_read, location, reports[-1][0],
                          self.max_remembered // 10)
                while len(self.builder.weather) > self.max_remembered // 10:  # the oldest read
                    self.builder.weather.pop(next(iter(self.builder.weather)))
        found = []
        for item_id in query.items:
            info = answers.items.get(item_id)
            if info is None:
                _remember(self._uncatalogued, item_id, now, self.max_remembered)
            else:
                self.catalogued(info)
                found.append(info)
        return found


def _remember(entries: dict[str, Any], key: str, value: Any, most: int) -> None:
    """Set ``key`` as the newest entry; beyond ``most`` entries the oldest set goes."""
    entries.pop(key, None)
    entries[key] = value
    while len(entries) > most:
        del entries[next(iter(entries))]
