"""When item shards publish: every second of wall time, or of event time, whichever comes first.

Live, event time keeps pace with the wall clock and the two agree. A replay or a backlog runs the
shop's hours through in seconds: by event time it publishes every batch, so each event is learned
with the freshness it would have had live, whatever the replay's speed.
"""

from __future__ import annotations

from stream.learning.cadence import PublishCadence

DAY = 86_400.0


def test_live_a_publish_comes_every_second_of_wall_time():
    cadence = PublishCadence(wall_s=1.0, event_s=1.0, wall=0.0)
    assert not cadence.due(wall=0.5, event=1_000.0)
    assert not cadence.due(wall=0.9, event=1_000.4)
    assert cadence.due(wall=1.0, event=1_000.5)


def test_a_quiet_shop_still_publishes_by_the_wall_clock():
    cadence = PublishCadence(wall_s=1.0, event_s=1.0, wall=0.0)
    cadence.published(wall=0.0, event=1_000.0)
    assert cadence.due(wall=1.5, event=1_000.0)


def test_a_replay_publishes_as_soon_as_a_second_of_the_shops_time_went_by():
    cadence = PublishCadence(wall_s=1.0, event_s=1.0, wall=0.0)
    assert not cadence.due(wall=0.01, event=1_000.0)  # the first event time: the reference
    assert cadence.due(wall=0.02, event=1_000.0 + DAY / 4)  # a batch of six hours
    cadence.published(wall=0.02, event=1_000.0 + DAY / 4)
    assert not cadence.due(wall=0.03, event=1_000.0 + DAY / 4)
    assert cadence.due(wall=0.04, event=1_000.0 + DAY / 2)


def test_the_first_event_time_seen_is_a_reference_not_a_reason_to_publish():
    cadence = PublishCadence(wall_s=1.0, event_s=1.0, wall=0.0)
    assert not cadence.due(wall=0.1, event=1_700_000_000.0)


def test_without_an_event_cadence_only_the_wall_clock_counts():
    cadence = PublishCadence(wall_s=1.0, event_s=None, wall=0.0)
    assert not cadence.due(wall=0.1, event=0.0)
    assert not cadence.due(wall=0.2, event=30 * DAY)
    assert cadence.due(wall=1.2, event=30 * DAY)


def test_a_publish_restarts_both_clocks():
    cadence = PublishCadence(wall_s=1.0, event_s=10.0, wall=0.0)
    cadence.due(wall=0.0, event=0.0)
    cadence.published(wall=1.0, event=10.0)
    assert not cadence.due(wall=1.5, event=15.0)
    assert cadence.due(wall=2.0, event=15.0) and cadence.due(wall=1.5, event=20.0)
