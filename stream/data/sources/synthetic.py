"""A seeded shop simulator whose demand follows taste, popularity and the local weather.

Real data sets show whether weather context helps only faintly; here the effect is known, so a
model that uses weather can be shown to find it. Users live in one of five European countries; each
country has its own daily weather (a seasonal temperature with day-to-day anomalies, and weather
types that persist for a few days). A session picks categories from the user's latent taste
multiplied by :func:`weather_lift` for today's weather at home (rain sells umbrellas and raincoats,
sun and heat sell sunglasses and swimwear, cold sells hot water bottles and knitwear), then items
within a category by popularity; some sessions end in a purchase.

The stream starts with an ItemUpsert per item and a UserProfile per user (at the first day's
00:00), then, day by day, one WeatherEvent per country at 00:00 and that day's clicks and purchases
(sessions start between 07:00 and 22:00 and end before midnight). Times are UTC. Everything comes
from one ``numpy`` Generator seeded by ``seed``, drawn in a fixed order, so a seed always gives the
same events and ids; ids carry the seed, so streams of two seeds never share one.

>>> from collections import Counter
>>> events = list(SyntheticShop(seed=7, users=20, items=50, days=2))
>>> events == list(SyntheticShop(seed=7, users=20, items=50, days=2))
True
>>> Counter(type(event).__name__ for event in events)
Counter({'ClickEvent': 97, 'ItemUpsert': 50, 'UserProfile': 20, 'WeatherEvent': 10, \
'PurchaseEvent': 10})
>>> click = next(event for event in events if isinstance(event, ClickEvent))
>>> click.event_id, click.user_id, click.item_id, click.location, click.ts.isoformat()
('syn7-e6', 'u6', 'i26', 'Spain', '2024-04-01T07:13:37.138000+00:00')
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from operator import attrgetter
from typing import ClassVar, NamedTuple

import numpy as np

from stream.contracts.schemas import (
    ClickEvent,
    Device,
    Event,
    ItemUpsert,
    PurchaseEvent,
    UserProfile,
    WeatherCondition,
    WeatherEvent,
)

W = WeatherCondition


@dataclass(frozen=True)
class Climate:
    """A country of the simulated shop: its share of users and the shape of its weather."""

    location: str
    users: float  # share of the shop's users living there
    mean_temp: float  # annual mean, °C
    swing: float  # mid-July minus annual mean, °C
    wet: float  # chance that a fresh weather spell is rain


@dataclass(frozen=True)
class Category:
    """A kind of product; six of the eleven sell by the weather (see weather_lift)."""

    name: str
    noun: str  # for item titles, so text features see words like UMBRELLA as in real catalogues
    share: float  # of the catalogue and of demand on an average day
    price: float  # median price, GBP


CLIMATES = (
    Climate("United Kingdom", 0.40, 10.5, 6.5, 0.45),
    Climate("France", 0.20, 12.5, 8.0, 0.35),
    Climate("Germany", 0.20, 9.5, 9.0, 0.40),
    Climate("Spain", 0.10, 16.0, 8.5, 0.20),
    Climate("Netherlands", 0.10, 10.5, 7.0, 0.45),
)
CATEGORIES = (
    Category("umbrellas", "UMBRELLA", 0.06, 12.0),
    Category("raincoats", "RAINCOAT", 0.06, 45.0),
    Category("sunglasses", "SUNGLASSES", 0.06, 25.0),
    Category("swimwear", "SWIMSUIT", 0.06, 30.0),
    Category("hot water bottles", "HOT WATER BOTTLE", 0.05, 9.0),
    Category("knitwear", "KNITTED JUMPER", 0.06, 40.0),
    Category("kitchen", "TEA TIN", 0.15, 6.0),
    Category("toys", "WOODEN TOY", 0.12, 8.0),
    Category("stationery", "NOTEBOOK", 0.12, 3.0),
    Category("home decor", "CANDLE HOLDER", 0.16, 10.0),
    Category("books", "COOKBOOK", 0.10, 15.0),
)
_INDEX = {category.name: i for i, category in enumerate(CATEGORIES)}
_COLOURS = ("RED", "BLUE", "GREEN", "PINK", "IVORY", "BLACK", "VINTAGE", "SPOTTY", "STRIPED")
_DEVICES = (Device.DESKTOP, Device.MOBILE, Device.TABLET, Device.APP)
_DEVICE_SHARES = (0.45, 0.35, 0.12, 0.08)

PERSISTENCE = 0.55  # chance a day repeats yesterday's weather type: spells last about two days
SESSIONS_PER_DAY = 0.25  # mean per user; per-user activity is gamma-spread around it
CLICKS_PER_SESSION = 4.5  # geometric mean, capped at 30
STAY_IN_CATEGORY = 0.6  # a session browses within a category before it wanders off
CONVERSION = 0.15  # sessions that end in a purchase
_DAY_END = 86_400 - 400  # last click time (s): room for the checkout, which takes up to 300 s


def weather_lift(condition: WeatherCondition, temp_c: float) -> np.ndarray:
    """How many times more than on an average day each category is wanted, in CATEGORIES order."""
    lift = np.ones(len(CATEGORIES))
    umbrellas, raincoats = _INDEX["umbrellas"], _INDEX["raincoats"]
    if condition in (W.RAIN, W.STORM):
        lift[umbrellas], lift[raincoats] = (4.0, 3.0) if condition is W.RAIN else (5.0, 3.5)
    elif condition is W.CLEAR:
        lift[umbrellas] = lift[raincoats] = 0.6
    if condition is W.CLEAR and temp_c >= 15:
        lift[_INDEX["sunglasses"]] = 3.0
    swimwear = _INDEX["swimwear"]
    lift[swimwear] = 4.0 if temp_c >= 22 else 2.0 if temp_c >= 17 else 0.4 if temp_c < 10 else 1.0
    cold = _INDEX["hot water bottles"], _INDEX["knitwear"]
    if temp_c <= 5 or condition is W.SNOW:
        lift[list(cold)] = (3.5, 2.5)
    elif temp_c <= 10:
        lift[list(cold)] = (1.8, 1.5)
    elif temp_c >= 18:
        lift[list(cold)] = (0.3, 0.4)
    return lift


class SyntheticShop:
    """``users`` shoppers and ``items`` products over ``days`` days from ``start``.

    ``events`` caps the clicks and purchases yielded (None: the whole simulation).
    """

    name: ClassVar[str] = "synthetic"

    def __init__(
        self, *, seed: int = 0, users: int = 2_000, items: int = 1_000, days: int = 28,
        events: int | None = None, start: date = date(2024, 4, 1),
    ) -> None:
        if min(users, items, days) < 1 or (events is not None and events < 0):
            raise ValueError("users, items and days must be at least 1, events at least 0")
        self.seed, self.users, self.items, self.days = seed, users, items, days
        self.events, self.start = events, start

    def __repr__(self) -> str:
        return (f"SyntheticShop(seed={self.seed}, users={self.users}, items={self.items}, "
                f"days={self.days}, events={self.events}, start={self.start!r})")

    def describe(self) -> str:
        cap = "" if self.events is None else f", at most {self.events} clicks and purchases"
        return (f"{self.name}: simulated shop, {self.users} users in {len(CLIMATES)} countries, "
                f"{self.items} items, {self.days} days from {self.start.isoformat()}, "
                f"seed {self.seed}{cap}")

    def __iter__(self) -> Iterator[Event]:
        rng = np.random.default_rng(self.seed)
        origin = datetime.combine(self.start, time(), tzinfo=UTC)
        catalogue = _Catalogue(rng, self.items)
        shoppers = _Shoppers(rng, self.users, catalogue)
        yield from catalogue.upserts(origin)
        yield from shoppers.profiles(origin)
        prefix, counter, sent = f"syn{self.seed}", 0, 0
        weather = [_WeatherProcess(climate) for climate in CLIMATES]
        for day in range(self.days):
            midnight = origin + timedelta(days=day)
            today = [process.next_day(rng, midnight.date()) for process in weather]
            for climate, (condition, temp_c, precip_mm) in zip(CLIMATES, today, strict=True):
                counter += 1
                yield WeatherEvent(event_id=f"{prefix}-e{counter}", location=climate.location,
                                   condition=condition, temp_c=temp_c, precip_mm=precip_mm,
                                   ts=midnight)
            lifts = [weather_lift(condition, temp_c) for condition, temp_c, _ in today]
            for action in shoppers.day(rng, lifts, f"{prefix}-s{day}"):
                if sent == self.events:
                    return
                counter, sent = counter + 1, sent + 1
                yield shoppers.event(action, f"{prefix}-e{counter}", midnight)


class _Catalogue:
    """Items with a category, a price and a popularity; sampling by category then popularity."""

    def __init__(self, rng: np.random.Generator, size: int) -> None:
        shares = np.array([category.share for category in CATEGORIES])
        self.category = rng.choice(len(CATEGORIES), size=size, p=shares)
        median = np.array([category.price for category in CATEGORIES])[self.category]
        self.price = np.round(median * rng.lognormal(0.0, 0.4, size=size), 2)
        popularity = rng.lognormal(0.0, 1.0, size=size)  # a long tail, as in every shop
        self.colour = rng.integers(len(_COLOURS), size=size)
        self.stocked = np.bincount(self.category, minlength=len(CATEGORIES)) > 0
        self.demand = shares * self.stocked / (shares * self.stocked).sum()
        self.members = [np.flatnonzero(self.category == c) for c in range(len(CATEGORIES))]
        self.cumulative = [np.cumsum(popularity[members]) for members in self.members]

    def pick(self, category: int, u: float) -> int:
        """The item of ``category`` at quantile ``u`` of its popularity distribution."""
        cumulative = self.cumulative[category]
        return int(self.members[category][np.searchsorted(cumulative, u * cumulative[-1], "right")])

    def upserts(self, ts: datetime) -> Iterator[ItemUpsert]:
        for item, category in enumerate(self.category):
            title = f"{_COLOURS[self.colour[item]]} {CATEGORIES[category].noun}"
            yield ItemUpsert(item_id=f"i{item}", title=title, category=CATEGORIES[category].name,
                             price=float(self.price[item]), ts=ts)


class _Action(NamedTuple):
    """A click (``order`` None) or one line of a purchase, before it gets an id and a date."""

    seconds: float  # after midnight
    user: int
    session: str
    item: int
    order: str | None = None
    quantity: int = 0


class _Shoppers:
    """Where users live, what they like, how often they come and on which device."""

    def __init__(self, rng: np.random.Generator, size: int, catalogue: _Catalogue) -> None:
        self.catalogue = catalogue
        self.home = rng.choice(len(CLIMATES), size=size, p=[c.users for c in CLIMATES])
        personal = rng.dirichlet(np.full(len(CATEGORIES), 0.3), size=size)  # a few favourites
        self.taste = 0.5 * catalogue.demand + 0.5 * personal
        self.activity = rng.gamma(2.0, SESSIONS_PER_DAY / 2.0, size=size)
        self.device = rng.choice(len(_DEVICES), size=size, p=_DEVICE_SHARES)

    def profiles(self, ts: datetime) -> Iterator[UserProfile]:
        for user, home in enumerate(self.home):
            yield UserProfile(user_id=f"u{user}", location=CLIMATES[home].location, ts=ts)

    def day(self, rng: np.random.Generator, lifts: list[np.ndarray], tag: str) -> list[_Action]:
        """The day's actions in time order, ``lifts`` being each country's weather_lift."""
        actions: list[_Action] = []
        sessions = rng.poisson(self.activity)
        for user in map(int, np.flatnonzero(sessions)):
            appeal = self.taste[user] * lifts[self.home[user]] * self.catalogue.stocked
            for k in range(int(sessions[user])):
                actions += _session(rng, self.catalogue, appeal, user, f"{tag}-{user}-{k}")
        return sorted(actions, key=attrgetter("seconds"))  # stable: ties keep the drawing order

    def event(self, action: _Action, event_id: str, midnight: datetime) -> Event:
        ts = midnight + timedelta(seconds=action.seconds)
        user, item = f"u{action.user}", f"i{action.item}"
        location = CLIMATES[self.home[action.user]].location
        device = _DEVICES[self.device[action.user]]
        if action.order is None:
            return ClickEvent(event_id=event_id, user_id=user, item_id=item, ts=ts,
                              session_id=action.session, location=location, device=device)
        return PurchaseEvent(event_id=event_id, user_id=user, item_id=item, ts=ts,
                             session_id=action.session, location=location, device=device,
                             order_id=action.order, quantity=action.quantity,
                             price=float(self.catalogue.price[action.item]))


def _session(
    rng: np.random.Generator, catalogue: _Catalogue, appeal: np.ndarray, user: int, session: str
) -> list[_Action]:
    """One session's clicks, and maybe the purchase that ends it."""
    cumulative = np.cumsum(appeal)
    size = min(int(rng.geometric(1 / CLICKS_PER_SESSION)), 30)
    stay, pick_category, pick_item = rng.random((3, size))
    gaps = 5.0 + rng.exponential(45.0, size=size)
    # Times are kept to the millisecond, the resolution of epoch-millisecond timestamps on the wire.
    seconds = np.round(rng.uniform(7 * 3600, 22 * 3600) + np.cumsum(gaps) - gaps[0], 3)
    clicks: list[_Action] = []
    category = -1
    for i in range(size):
        if seconds[i] > _DAY_END:
            break
        if category < 0 or stay[i] >= STAY_IN_CATEGORY:
            # side="right" never lands on a category without items (a zero-width step)
            category = int(np.searchsorted(cumulative, pick_category[i] * cumulative[-1], "right"))
        item = catalogue.pick(category, pick_item[i])
        clicks.append(_Action(float(seconds[i]), user, session, item))
    if not clicks or rng.random() >= CONVERSION:
        return clicks
    paid = round(clicks[-1].seconds + rng.uniform(30, 300), 3)
    # The last item looked at is the one bought; others join the basket now and then.
    last = clicks[-1].item
    others = [click.item for click in clicks if click.item != last]
    basket = [last] + [item for item in dict.fromkeys(others) if rng.random() < 0.2]
    return clicks + [
        _Action(paid, user, session, item, f"{session}-order", 1 + int(rng.poisson(0.3)))
        for item in basket
    ]


class _WeatherProcess:
    """One country's daily weather: a seasonal mean, an AR(1) anomaly and persistent types."""

    def __init__(self, climate: Climate) -> None:
        self.climate = climate
        self.anomaly = 0.0
        self.condition: WeatherCondition | None = None

    def next_day(
        self, rng: np.random.Generator, day: date
    ) -> tuple[WeatherCondition, float, float]:
        """Today's (condition, mean temperature °C, precipitation mm), drawn after yesterday's."""
        climate = self.climate
        season = -math.cos(2 * math.pi * (day.timetuple().tm_yday - 15) / 365.25)  # -1 mid-Jan
        self.anomaly = 0.7 * self.anomaly + rng.normal(0.0, 2.0)
        temp_c = climate.mean_temp + climate.swing * season + self.anomaly
        fresh, draw = rng.random(2)
        condition = self.condition
        if condition is None or fresh >= PERSISTENCE:
            condition = (W.STORM if draw < 0.04 else W.RAIN if draw < climate.wet
                         else W.CLOUDY if draw < climate.wet + 0.25 else W.CLEAR)
            if condition is W.CLOUDY and temp_c < 8 and rng.random() < 0.2:
                condition = W.FOG
        if condition in (W.RAIN, W.STORM) and temp_c <= 0.5:
            condition = W.SNOW
        elif condition is W.SNOW and temp_c > 1.5:
            condition = W.RAIN
        self.condition = condition
        # Clear skies run warm in summer and cold in winter.
        temp_c += 1.5 * season if condition is W.CLEAR else 0.0
        precip_mm = 0.0
        if condition is W.RAIN:
            precip_mm = 1.0 + rng.gamma(1.5, 3.0)  # at least the 1 mm of a "wet day"
        elif condition is W.STORM:
            precip_mm = 5.0 + rng.gamma(2.0, 8.0)
        elif condition is W.SNOW:
            precip_mm = 0.5 + rng.gamma(1.5, 2.0)
        return condition, round(float(np.clip(temp_c, -30, 45)), 1), round(float(precip_mm), 1)
