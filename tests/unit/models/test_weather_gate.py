"""Trending is narrowed by the weather only where the weather moves demand."""

from __future__ import annotations

import random

from models.base import Context, Interaction
from models.trending import Trending
from models.weather_gate import WeatherGate

RAIN = Context(ts=0.0, location="Leeds", condition="rain")


def duel(weather_moves_demand: bool, n: int = 6000) -> WeatherGate:
    """A gate that watched ``n`` purchases at one place, in rain or sun, from 400 items."""
    rng = random.Random(7)
    trending, gate = Trending(half_life_s=1e9), WeatherGate(every=1)
    for step in range(n):
        condition = rng.choice(["rain", "clear"])
        item = min(int(rng.paretovariate(1.2)), 200)
        if weather_moves_demand and condition == "rain":
            item += 200  # rain sells another half of the catalogue
        interaction = Interaction(f"u{step}", f"item{item}", ts=float(step), location="Leeds",
                                  condition=condition, kind="purchase")
        gate.check(trending, interaction)
        trending.learn_one(interaction)
    return gate


def test_where_rain_sells_other_items_trending_is_asked_in_the_weather():
    assert duel(weather_moves_demand=True).context(RAIN).condition == "rain"


def test_where_the_weather_changes_nothing_trending_is_asked_for_the_place_alone():
    assert duel(weather_moves_demand=False).context(RAIN).condition is None


def test_a_context_without_weather_is_left_as_it_is():
    gate = WeatherGate()
    gate.credit(with_weather=True, without=False)
    assert gate.context(Context(ts=0.0, location="Leeds")) == Context(ts=0.0, location="Leeds")
