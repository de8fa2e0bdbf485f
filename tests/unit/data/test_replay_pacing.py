"""Replay pacing: never faster than asked, never dropping an event when behind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stream.contracts.schemas import ClickEvent
from stream.data.replay import paced
from stream.errors import UserFacingError

T0 = datetime(2011, 1, 1, tzinfo=UTC)


class FakeClock:
    """Time that moves only when slept, so pacing is checked exactly."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def clicks(offsets_s: list[float]) -> list[ClickEvent]:
    return [ClickEvent(event_id=str(n), user_id="u", item_id="i", ts=T0 + timedelta(seconds=s))
            for n, s in enumerate(offsets_s)]


def test_a_rate_spaces_events_evenly():
    clock = FakeClock()
    sent = list(paced(clicks([0, 0, 0, 0]), rate=2.0, clock=clock))
    assert len(sent) == 4 and clock.sleeps == [0.5, 0.5, 0.5]


def test_a_speedup_follows_the_original_timestamps_compressed():
    clock = FakeClock()
    list(paced(clicks([0, 60, 60, 3600]), speedup=60, clock=clock))
    assert clock.sleeps == [1.0, 59.0]  # a minute becomes a second; an hour a minute


def test_without_pacing_nothing_sleeps():
    clock = FakeClock()
    assert len(list(paced(clicks([0, 5, 10]), clock=clock))) == 3 and clock.sleeps == []


def test_rate_and_speedup_are_exclusive_and_positive():
    with pytest.raises(UserFacingError, match="not both"):
        list(paced(clicks([0]), rate=1, speedup=1))
    with pytest.raises(UserFacingError, match="positive"):
        list(paced(clicks([0]), rate=0))
