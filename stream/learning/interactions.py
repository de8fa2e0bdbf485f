"""Contract events to the plain data models learn from (models/ knows nothing of contracts).

An interaction carries its context: the weather at the user's location at the interaction's time
(an as-of join on the location's weather history) and the catalogue facts of the item.
:class:`InteractionBuilder` keeps those facts; in-process (evaluation) it learns them from the
same stream, in a worker they are filled from Redis (weather and catalogue topics are keyed by
location and item, so their events reach other workers).

>>> from datetime import UTC, datetime
>>> from stream.contracts.schemas import ClickEvent, WeatherEvent
>>> ts = datetime(2011, 1, 4, tzinfo=UTC)
>>> builder = InteractionBuilder(default_location="United Kingdom")
>>> builder.feed(WeatherEvent(location="United Kingdom", ts=ts, temp_c=3.5, precip_mm=4,
...                           condition="rain")) is None
True
>>> i = builder.feed(ClickEvent(event_id="e", user_id="u", item_id="i", ts=ts))
>>> (i.location, i.condition, i.temp_c, i.kind)
('United Kingdom', 'rain', 3.5, 'click')
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Literal

from models.base import Context, Interaction, ItemInfo, Origin
from stream.contracts.schemas import (
    ClickEvent,
    Event,
    ItemUpsert,
    PurchaseEvent,
    UserProfile,
    WeatherEvent,
)

# Reports kept per location: two years of daily weather (the state writer keeps as many).
REPORTS_KEPT = 730


@dataclass(frozen=True, slots=True)
class Weather:
    condition: str
    temp_c: float


class InteractionBuilder:
    """Keeps the context facts and builds :class:`Interaction` / :class:`ItemInfo` from events.

    ``default_location`` stands in for users whose location is unknown (the Online Retail
    weather series is London's, used for every UK customer and as the default).
    """

    def __init__(self, default_location: str | None = None) -> None:
        self.default_location = default_location
        self.weather: dict[str, list[tuple[float, Weather]]] = {}  # location -> (ts, report)
        self.items: dict[str, ItemInfo] = {}
        self.user_locations: dict[str, str] = {}

    def feed(self, event: Event) -> Interaction | ItemInfo | None:
        """Learn the event's facts; return what a model should see of it, if anything."""
        if isinstance(event, (ClickEvent, PurchaseEvent)):
            return self.interaction(event)
        if isinstance(event, WeatherEvent):
            self.add_weather(event.location, event.ts.timestamp(),
                             Weather(event.condition.value, event.temp_c))
        elif isinstance(event, ItemUpsert):
            info = ItemInfo(item_id=event.item_id, category=event.category, price=event.price,
                            title=event.title, in_stock=event.in_stock)
            self.items[event.item_id] = info
            return info
        elif isinstance(event, UserProfile) and event.location:
            self.user_locations[event.user_id] = event.location
        return None

    def add_weather(self, location: str, ts: float, weather: Weather) -> None:
        """A weather report; reports may arrive out of order. A location keeps its latest
        REPORTS_KEPT (what the state keeps too), so a flood of reports costs no memory."""
        history = self.weather.setdefault(location, [])
        bisect.insort(history, (ts, weather), key=lambda row: row[0])
        if len(history) > REPORTS_KEPT:
            del history[:len(history) - REPORTS_KEPT]

    def weather_at(self, location: str | None, ts: float) -> Weather | None:
        """The weather last reported at or before ``ts`` at ``location``; a place without a
        series takes the default location's."""
        history = (self.weather.get(location or "")
                   or self.weather.get(self.default_location or ""))
        if not history:
            return None
        index = bisect.bisect_right(history, ts, key=lambda row: row[0])
        return history[index - 1][1] if index else None

    def location_of(self, user_id: str, given: str | None) -> str | None:
        return given or self.user_locations.get(user_id) or self.default_location

    def context(self, user_id: str, location: str | None, ts: float) -> Context:
        """Where and when a user is, e.g. when shown an impression."""
        location = self.location_of(user_id, location)
        weather = self.weather_at(location, ts)
        return Context(ts=ts, location=location,
                       condition=weather.condition if weather else None,
                       temp_c=weather.temp_c if weather else None)

    def interaction(self, event: ClickEvent | PurchaseEvent, origin: Origin | None = None
                    ) -> Interaction:
        location = self.location_of(event.user_id, event.location)
        ts = event.ts.timestamp()
        weather = self.weather_at(location, ts)
        item = self.items.get(event.item_id)
        kind: Literal["click", "purchase"] = "click"
        session, price, quantity = event.session_id, item.price if item else None, 1
        if isinstance(event, PurchaseEvent):
            # An order is a session when the shop sent none: its lines form one basket.
            kind, session, price, quantity = ("purchase", session or event.order_id,
                                              event.price, event.quantity)
        return Interaction(
            user_id=event.user_id, item_id=event.item_id, ts=ts, kind=kind, session_id=session,
            location=location,
            condition=weather.condition if weather else None,
            temp_c=weather.temp_c if weather else None,
            device=event.device.value if event.device else None,
            category=item.category if item else None,
            price=price, quantity=quantity,
            origin=origin,
        )
