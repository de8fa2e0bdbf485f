"""Worker memory follows the active users: every per-user and per-location structure is bounded
by count and by age, whatever the stream brings."""

from __future__ import annotations

from models.base import Context, Interaction
from stream.learning.context import ContextAnswers, ContextQuery, WorkerContext
from stream.learning.interactions import REPORTS_KEPT, InteractionBuilder, Weather
from stream.learning.user_shard import UserShard
from stream.settings import LearningSettings


def shard(max_users: int, ttl_s: float = 90 * 86400.0) -> UserShard:
    return UserShard.new(0, LearningSettings(max_users_per_shard=max_users, state_ttl_s=ttl_s,
                                             min_item_count=1), exclude_purchased=True)


def buy(user: str, item: str, ts: float) -> Interaction:
    return Interaction(user, item, ts=ts, kind="purchase", session_id=f"{user}-{ts}",
                       origin=("purchases", int(ts)))


def test_beyond_its_bound_a_shard_forgets_the_users_unseen_longest_in_every_model():
    users = shard(max_users=100)
    for n in range(300):
        users.feed(buy(f"u{n}", f"i{n % 7}", ts=float(n)))
    users.close_basket()
    assert users.expire() == 200
    assert list(users.seen) == [f"u{n}" for n in range(200, 300)]
    sources = {s.source for s in users.model.recommend("u5", 5, Context(ts=400.0))}
    assert "repeat" not in sources  # u5's repeat profile is gone: a new user again
    assert "repeat" in {s.source for s in users.model.recommend("u299", 5, Context(ts=400.0))}


def test_a_user_unseen_for_the_ttl_is_forgotten_and_an_open_basket_is_kept():
    users = shard(max_users=1_000, ttl_s=100.0)
    users.feed(buy("old", "tea", ts=0.0))
    users.feed(buy("new", "jam", ts=500.0))  # learns old's basket; new's stays open
    assert users.expire() == 1
    assert list(users.seen) == ["new"]


def test_the_workers_caches_of_what_redis_holds_are_bounded():
    context = WorkerContext(default_location=None, max_remembered=20)
    for n in range(100):
        context.located(f"u{n}", f"place{n}")
    assert len(context.builder.user_locations) == 20
    assert "u99" in context.builder.user_locations and "u0" not in context.builder.user_locations
    places = {f"place{n}": [(1000.0 * n, Weather("rain", 5.0))] for n in range(50)}
    context.take(ContextQuery([], dict.fromkeys(places, -1.0), [f"i{n}" for n in range(100)]),
                 ContextAnswers({}, places, {}), now=0.0)
    assert len(context.builder.weather) == 2  # a tenth of the bound: locations are few
    assert context.query([], now=1.0).items == []


def test_a_location_keeps_only_its_latest_reports():
    builder = InteractionBuilder()
    for day in range(REPORTS_KEPT + 100):
        builder.add_weather("Leeds", day * 86400.0, Weather("clear", 10.0))
    assert len(builder.weather["Leeds"]) == REPORTS_KEPT
    assert builder.weather["Leeds"][0][0] == 100 * 86400.0
