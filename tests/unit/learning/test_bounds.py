"""Worker memory follows the active users: every per-user and per-location structure is bounded
by count and by age, whatever the stream brings."""

from __future__ import annotations

from models.base import Context, Interaction
from models.hybrid import TRENDING_HALF_LIFE_S
from models.item_steps import ItemStep
from models.trending import GLOBAL, Trending
from stream.contracts.internal import StepMessage, decode_broadcast
from stream.contracts.records import Record
from stream.learning.broadcast_copy import BroadcastCopy
from stream.learning.context import ContextAnswers, ContextQuery, WorkerContext
from stream.learning.interactions import REPORTS_KEPT, InteractionBuilder, Weather
from stream.learning.item_shard import ItemShard
from stream.learning.publish import publish
from stream.learning.user_shard import FACTORS, UserShard
from stream.settings import LearningSettings, TopicSettings


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


SCOPES = 100  # the least max_trending_scopes allowed
TOWNS = ["Leeds", "York"]


def steps_under_a_flood() -> list[ItemStep]:
    """Two towns buying steadily, among ten times the bound of places no one else names."""
    steps = []
    for n in range(10 * SCOPES):
        weather = ["rain", "clear"][n % 2]
        steps.append(ItemStep(f"i{n % 29}", 60.0 * n, 3.0, None, ("purchases", n),
                              TOWNS[n // 2 % 2], weather))
        steps.append(ItemStep(f"i{n % 13}", 60.0 * n, 1.0, None, ("clicks", n),
                              f"invented-{n}", weather))
    return steps


def test_item_shards_and_every_workers_copy_keep_at_most_the_bound_of_trending_scopes():
    """The item shards count, publish every 50 steps, and their broadcast reaches a worker's
    copy; what they store goes to Redis (here: the members the plans leave in each set)."""
    learning = LearningSettings(max_trending_scopes=SCOPES)
    owners = {p: ItemShard.new(p, n_factors=FACTORS, min_item_count=1, ttl_s=None,
                               max_trending_scopes=SCOPES) for p in (0, 1)}
    copy, users = BroadcastCopy(), UserShard.new(0, learning, exclude_purchased=True)
    everything = Trending(half_life_s=TRENDING_HALF_LIFE_S, max_scopes=10**9)
    stored: dict[str, set[str]] = {}  # scope -> the members its Redis set holds

    def carry() -> None:
        plan = publish(owners.values(), TopicSettings())
        records = [Record(topic, 0, n, key, value)
                   for n, (topic, _, key, value) in enumerate(plan.messages)]
        copy.take(decode_broadcast(records, TopicSettings().item_vectors), [users])
        for scope, score, item in plan.trending:
            if score is None:
                stored.get(scope, set()).discard(item)
            else:
                stored.setdefault(scope, set()).add(item)

    steps = steps_under_a_flood()
    for n in range(0, len(steps), 50):
        for step in steps[n:n + 50]:
            owners[int(step.item_id[1:]) % 2].apply(StepMessage(0, {}, [step]))
            everything.add(step.item_id, step.weight, step.ts, step.location, step.condition)
        carry()

    assert len(everything.scopes()) > 10 * SCOPES
    trending = users.model.recommender_.trending_
    kept = [set(owner.trending.scopes()) for owner in owners.values()] + [set(trending.scopes())]
    assert all(len(scopes) <= SCOPES for scopes in kept)
    # The global and weather scopes stay, and the towns outweigh any invented place.
    lasting = {GLOBAL, "condition=rain", "condition=clear", "location=Leeds",
               "location,condition=York|clear"}
    assert all(lasting <= scopes for scopes in kept)
    # Nothing a shard dropped lingers: not its part in the worker, nor its items in Redis.
    assert all(scope in owners[source].trending.scopes()
               for scope, parts in copy.parts.items() for source in parts)
    assert {scope for scope, members in stored.items() if members} <= kept[0] | kept[1]
    # A kept scope still ranks as one model that counted everything.
    context = Context(ts=steps[-1].ts, location="Leeds", condition="rain")
    assert [(s.item_id, round(s.score, 9)) for s in trending.recommend("u", 20, context)] == [
        (s.item_id, round(s.score, 9)) for s in everything.recommend("u", 20, context)]
    # A user shard the worker takes over later is seeded within the bound too.
    later = UserShard.new(1, learning, exclude_purchased=True)
    copy.seed(later)
    assert len(later.model.recommender_.trending_.scopes()) <= SCOPES
