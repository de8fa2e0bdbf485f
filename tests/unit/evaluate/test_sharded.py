"""The twin as a fleet of user shards learns co-visitation: each shard from its own users."""

from __future__ import annotations

from models.base import Interaction
from models.covisitation import CoVisitation
from stream.evaluate.run import TWIN, baselines
from stream.evaluate.sharded import ShardedCoVisitation
from stream.settings import LearningSettings
from stream.transport.partitioner import partition_of


def users_on(partition: int, shards: int, count: int) -> list[str]:
    users = (f"u{n}" for n in range(10_000))
    return [u for u in users if partition_of(u, shards) == partition][:count]


def learn_tent_then_stove(model: CoVisitation, users: list[str]) -> None:
    for n, user in enumerate(users):
        for item in ("tent", "stove"):
            model.learn_one(Interaction(user, item, ts=float(n), session_id=user))


def test_a_shard_learns_pairs_from_its_own_users_sessions_only():
    teacher, same_shard = users_on(0, 4, 2)
    (other_shard,) = users_on(1, 4, 1)
    model = ShardedCoVisitation(CoVisitation(), shards=4)
    learn_tent_then_stove(model, [teacher])
    for user in (same_shard, other_shard):
        model.learn_one(Interaction(user, "tent", ts=9.0, session_id=user))
    assert model.candidates(same_shard, 5, set()).items == ["stove"]
    assert model.candidates(other_shard, 5, set()).items == []  # its shard never saw the pair


def test_one_shard_is_the_whole_streams_co_visitation():
    users = [f"u{n}" for n in range(20)]
    whole, one = CoVisitation(), ShardedCoVisitation(CoVisitation(), shards=1)
    for model in (whole, one):
        learn_tent_then_stove(model, users)
        model.learn_one(Interaction("new", "tent", ts=99.0, session_id="new"))
    assert one.candidates("new", 5, set()).pairs() == whole.candidates("new", 5, set()).pairs()


def test_the_ablation_shows_the_twin_as_the_configured_fleet_learns_it():
    systems = baselines(ablation=True, twin=LearningSettings(), shards=4)
    sharded = systems[f"{TWIN}-covis-4-shards"]
    assert isinstance(sharded.recommender_.covisitation_, ShardedCoVisitation)
    assert len(sharded.recommender_.covisitation_.shards) == 4
    assert f"{TWIN}-covis-1-shards" not in baselines(ablation=True, twin=LearningSettings())
