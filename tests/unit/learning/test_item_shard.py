"""Item steps: routed by item, encoded compactly, applied once by the item's shard."""

from __future__ import annotations

import numpy as np
import pytest

from models.embeddings import ItemStep
from stream.contracts.internal import StepMessage, decode_scope, decode_scope_key
from stream.contracts.internal import decode_steps as decode
from stream.contracts.internal import encode_steps as encode
from stream.learning.item_shard import ItemShard, in_messages, route
from stream.learning.publish import publish
from stream.settings import TopicSettings
from stream.transport.partitioner import partition_of


def step(item: str, offset: int, vec: np.ndarray | None, topic: str = "clicks") -> ItemStep:
    return ItemStep(item, ts=float(offset), weight=1.0, user_vec=vec, origin=(topic, offset))


def shard() -> ItemShard:
    return ItemShard.new(0, n_factors=2, min_item_count=1, ttl_s=None, max_trending_scopes=100)


def test_a_message_round_trips_and_carries_each_user_vector_once():
    u = np.array([0.25, -1.5], dtype=np.float32)
    steps = [step("a", 7, u), step("b", 8, u), step("c", 9, None)]
    message = decode(encode(3, {"clicks": 10}, steps))
    assert (message.source, message.watermark) == (3, {"clicks": 10})
    assert [(s.item_id, s.origin) for s in message.steps] == [
        ("a", ("clicks", 7)), ("b", ("clicks", 8)), ("c", ("clicks", 9))]
    assert message.steps[0].user_vec.tolist() == message.steps[1].user_vec.tolist() == [0.25, -1.5]
    assert message.steps[2].user_vec is None
    assert encode(3, {}, steps).count(b'"vecs":"') == 1


def test_steps_go_to_their_items_partition_as_kafka_would_key_them():
    steps = [step(f"item{n}", n, None) for n in range(100)]
    routed = route(steps, lambda item: partition_of(item, 4))
    assert len(routed) == 4 and sum(len(v) for v in routed.values()) == 100
    for partition, targeted in routed.items():
        assert {partition_of(s.item_id, 4) for s in targeted} == {partition}
    assert partition_of("item1", 4) == partition_of("item1", 4)
    # Kafka's murmur2 of the key b"item1" (aiokafka's DefaultPartitioner gives the same).
    from aiokafka.partitioner import DefaultPartitioner
    assert partition_of("item1", 4) == DefaultPartitioner()(b"item1", [0, 1, 2, 3], [0, 1, 2, 3])


def test_a_replayed_message_applies_only_the_steps_not_applied_before():
    u = np.ones(2, dtype=np.float32)
    item_shard = shard()
    # The source's first run: events 0-4 then 5-9, each message with the watermark after it.
    item_shard.apply(decode(encode(0, {"clicks": 5}, [step("a", n, u) for n in range(5)])))
    item_shard.apply(decode(encode(0, {"clicks": 10}, [step("a", n, u) for n in range(5, 10)])))
    # It crashed, restored a snapshot covering events below 3, and replays 3-11 in one batch.
    replayed = decode(encode(0, {"clicks": 12}, [step("a", n, u) for n in range(3, 12)]))
    assert item_shard.apply(replayed) == 2  # only events 10 and 11 are new
    assert (item_shard.applied, item_shard.duplicates) == (12, 7)
    # Another source's steps are judged by that source's watermark alone.
    assert item_shard.apply(decode(encode(1, {"clicks": 1}, [step("a", 0, u)]))) == 1


def test_a_step_held_back_by_an_open_basket_is_not_taken_for_a_replay():
    """Event 4 opened a basket: the first message's watermark stops at 4, so its step, sent
    with the next message, still applies."""
    u = np.ones(2, dtype=np.float32)
    item_shard = shard()
    item_shard.apply(decode(encode(0, {"clicks": 4}, [step("a", n, u) for n in range(4)])))
    later = decode(encode(0, {"clicks": 6}, [step("a", 4, u), step("a", 5, u)]))
    assert item_shard.apply(later) == 2
    assert item_shard.applied == 6 and item_shard.duplicates == 0


def test_changed_items_are_taken_once_for_the_broadcast():
    item_shard = shard()
    u = np.array([1.0, 0.0], dtype=np.float32)
    item_shard.apply(decode(encode(0, {"clicks": 2}, [step("a", 0, None), step("a", 1, u)])))
    changed = item_shard.take_dirty()
    assert list(changed) == ["a"]
    vec, last_seen = changed["a"]
    assert last_seen == pytest.approx(1.0) and vec.shape == (2,)
    assert item_shard.take_dirty() == {}
    # Trending counted both steps, the first too (the item had no vector yet).
    assert item_shard.take_counts() == {("a", "global"): pytest.approx(2.0, rel=1e-4)}
    assert item_shard.take_counts() == {}


def test_the_item_shard_counts_trending_in_each_steps_location_and_weather():
    item_shard = shard()
    steps = [ItemStep("umbrella", ts=1.0, weight=3.0, user_vec=None, origin=("purchases", 0),
                      location="London", condition="rain"),
             ItemStep("umbrella", ts=1.0, weight=1.0, user_vec=None, origin=("clicks", 0),
                      location="Paris", condition=None)]
    message = decode(encode(0, {}, steps))
    assert [(s.location, s.condition) for s in message.steps] == [("London", "rain"),
                                                                   ("Paris", None)]
    item_shard.apply(message)
    counts = item_shard.take_counts()
    assert {scope: round(v, 4) for (_, scope), v in counts.items()} == {
        "global": 4.0, "location=London": 3.0, "condition=rain": 3.0,
        "location,condition=London|rain": 3.0, "location=Paris": 1.0}
    # A later step sends only the counts it changed.
    item_shard.apply(decode(encode(0, {}, [ItemStep("umbrella", 2.0, 1.0, None, ("clicks", 1),
                                                    "Paris", None)])))
    assert set(item_shard.take_counts()) == {("umbrella", "global"),
                                             ("umbrella", "location=Paris")}


def test_an_expired_item_leaves_trending_and_is_broadcast_as_removed():
    item_shard = ItemShard.new(0, n_factors=2, min_item_count=5, ttl_s=10.0,
                               max_trending_scopes=100)
    item_shard.apply(decode(encode(0, {}, [step("old", 0, None), step("new", 100, None)])))
    item_shard.take_counts()
    assert item_shard.expire() == ["old"]  # below the filter, so only trending knew it
    assert item_shard.take_counts() == {("old", "global"): None}
    assert item_shard.trending.count("old", "global") is None
    assert item_shard.trending.items() == ["new"]


def test_a_dropped_trending_scope_is_broadcast_as_gone_and_its_items_leave_the_stored_sets():
    item_shard = ItemShard.new(0, n_factors=2, min_item_count=1, ttl_s=None,
                               max_trending_scopes=2)  # the global scope and one place

    def bought(item: str, weight: float, location: str) -> ItemStep:
        return ItemStep(item, 0.0, weight, None, ("purchases", 0), location)

    item_shard.apply(StepMessage(0, {}, [bought("tea", 3.0, "Leeds"), bought("jam", 1.0, "York")]))
    assert set(item_shard.trending.scopes()) == {"global", "location=Leeds"}  # York weighed less
    item_shard.apply(StepMessage(0, {}, [bought("rum", 5.0, "York")]))  # York again, heavier
    assert set(item_shard.trending.scopes()) == {"global", "location=York"}
    plan = publish([item_shard], TopicSettings())
    trending = [(decode_scope_key(key)[1], None if value is None else decode_scope(value))
                for topic, _, key, value in plan.messages if topic == TopicSettings().item_trending]
    # Tombstones tell every copy to forget this shard's part of the scopes it dropped; York,
    # counted again since, then comes afresh: nothing of its old part is left to expire.
    assert sorted(scope for scope, part in trending if part is None) == [
        "location=Leeds", "location=York"]
    york = [part for scope, part in trending if scope == "location=York"]
    assert york[0] is None and york[1].best == {"rum": 5.0} and york[1].gone == []
    assert {scope for scope, part in trending if part is not None} == {"global", "location=York"}
    # In Redis the dropped items leave their sets (no score), the new one enters.
    stored = {(scope, item): score for scope, score, item in plan.trending}
    assert stored[("location=Leeds", "tea")] is None and stored[("location=York", "jam")] is None
    assert stored[("location=York", "rum")] is not None


def test_many_steps_travel_in_several_messages_and_none_is_taken_for_a_replay():
    vec = np.zeros(2, dtype=np.float32)
    steps = [step(f"item{n % 7}", n, vec, topic="clicks" if n % 3 else "purchases")
             for n in range(25)]
    messages = [StepMessage(0, mark, part)
                for part, mark in in_messages(steps, {"clicks": 25, "purchases": 25}, most=4)]
    assert len(messages) == 7 and all(len(m.steps) <= 4 for m in messages)
    items = shard()
    assert sum(items.apply(m) for m in messages) == 25 and items.duplicates == 0
    assert sum(items.apply(m) for m in messages) == 0  # all of them again: replays
