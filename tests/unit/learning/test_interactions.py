"""Interactions carry the weather of their own time and place (an as-of join)."""

from __future__ import annotations

from datetime import UTC, datetime

from stream.contracts.schemas import ClickEvent
from stream.learning.interactions import InteractionBuilder, Weather


def click(day: int, location: str | None = None) -> ClickEvent:
    return ClickEvent(event_id=f"e{day}", user_id="u1", item_id="i1", location=location,
                      ts=datetime(2011, 1, day, 12, tzinfo=UTC))


def midnight(day: int) -> float:
    return datetime(2011, 1, day, tzinfo=UTC).timestamp()


def test_each_interaction_gets_the_last_report_before_it_even_when_reports_arrive_late():
    builder = InteractionBuilder()
    builder.add_weather("UK", midnight(3), Weather("snow", -2.0))
    builder.add_weather("UK", midnight(1), Weather("rain", 6.0))  # late, out of order
    assert builder.interaction(click(2, "UK")).condition == "rain"
    assert builder.interaction(click(4, "UK")).condition == "snow"
    assert builder.interaction(click(1, "France")).condition is None  # no series, no default


def test_a_place_without_a_series_takes_the_default_locations_weather():
    builder = InteractionBuilder(default_location="UK")
    builder.add_weather("UK", midnight(1), Weather("clear", 9.5))
    i = builder.interaction(click(2, "France"))
    assert (i.location, i.condition, i.temp_c) == ("France", "clear", 9.5)
    assert builder.context("u1", None, midnight(2)).location == "UK"
