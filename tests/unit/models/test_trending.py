"""Trending keeps a bounded number of scopes: a location is whatever an event claims, so past
``max_scopes`` the places' scopes with the least mass are forgotten; the global and weather
scopes always stay, and every scope kept ranks as if nothing had been forgotten."""

from __future__ import annotations

from models.base import Context, Interaction
from models.trending import GLOBAL, Trending

BOUND = 100
TOWNS = ["Leeds", "York", "Hull"]
WEATHER = ["rain", "clear"]


def shop_under_a_flood() -> list[Interaction]:
    """Three towns buying steadily, among ten times the bound of places no one else names."""
    events = []
    for n in range(10 * BOUND):
        ts = 60.0 * n
        events.append(Interaction(f"u{n}", f"i{n % 7}", ts=ts, kind="purchase",
                                  location=TOWNS[n % 3], condition=WEATHER[n % 2]))
        events.append(Interaction("bot", f"i{n % 11}", ts=ts, location=f"invented-{n}",
                                  condition=WEATHER[n % 2]))
    return events


def fed(model: Trending, events: list[Interaction]) -> Trending:
    for event in events:
        model.learn_one(event)
    return model


def test_past_its_bound_a_model_keeps_at_most_max_scopes_and_all_global_and_weather_ones():
    model = fed(Trending(max_scopes=BOUND), shop_under_a_flood())
    assert len(model.scopes()) <= BOUND
    assert {GLOBAL, "condition=rain", "condition=clear"} <= set(model.scopes())
    # The towns outweigh any invented place: every one of their scopes stays.
    assert {f"location={town}" for town in TOWNS} <= set(model.scopes())
    assert {f"location,condition={town}|{w}" for town in TOWNS for w in WEATHER} <= set(
        model.scopes())
    assert "location=invented-0" not in model.scopes()  # the oldest invented places went first


def test_a_kept_scope_ranks_exactly_as_in_a_model_that_forgot_nothing():
    events = shop_under_a_flood()
    bounded = fed(Trending(max_scopes=BOUND), events)
    unbounded = fed(Trending(max_scopes=100 * len(events)), events)
    assert len(unbounded.scopes()) > 10 * BOUND
    for town in TOWNS:
        context = Context(ts=events[-1].ts, location=town, condition="rain")
        assert bounded.recommend("u", 5, context) == unbounded.recommend("u", 5, context)


def test_the_places_with_the_least_mass_go_first_a_places_weather_before_the_place():
    model = Trending(max_scopes=10)  # global and condition=rain, and four places' two scopes
    for place, weight in [("A", 5.0), ("B", 4.0), ("C", 3.0), ("D", 2.0), ("E", 1.0)]:
        model.add(f"bought-in-{place}", weight, 0.0, place, "rain")  # add leaves it to evict
    assert len(model.scopes()) == 12
    # Two over the bound, and a tenth of it more, so the next new place costs no sort.
    assert model.evict() == {"location,condition=E|rain": ["bought-in-E"],
                             "location=E": ["bought-in-E"],
                             "location,condition=D|rain": ["bought-in-D"]}
    assert len(model.scopes()) == 9 and model.evict() == {}
    assert model.count("bought-in-E", GLOBAL) == 1.0  # the item still counts where it stays
