"""Online learning on the real stack: every interaction learned once per shard, even after a crash."""

from __future__ import annotations

import json
import signal
from datetime import datetime

import pytest
import redis

from models.base import KIND_WEIGHTS
from models.hybrid import TRENDING_HALF_LIFE_S
from models.trending import Trending
from stream.settings import Settings
from stream.store.keys import Keys
from tests.integration.conftest import wait_until
from tests.integration.traffic import (
    applied_events,
    assert_state_matches,
    learned,
    mixed_traffic,
    send_raw,
    steps_applied,
)

pytestmark = pytest.mark.integration






def test_two_workers_one_killed_learn_every_interaction_exactly_once(
        settings, start_worker, redis_client):
    settings = settings.replace(snapshot_every_s=1.0)
    traffic = mixed_traffic(settings, 16_000, malformed_every=100, seed=5)
    interactions = sum(traffic.item_clicks.values()) + sum(traffic.item_purchases.values())
    first, second = start_worker(settings), start_worker(settings)
    # Both in the group before any traffic: a fast survivor could otherwise learn everything
    # before the other joined, and killing that one would move nothing.
    wait_until(lambda: all("[INFO] assigned " in w.output() for w in (first, second)), 60,
               "both workers to hold partitions", workers=[first, second])
    half = len(traffic.messages) // 2
    send_raw(settings, traffic.messages[:half])
    wait_until(lambda: learned(settings) > 3_000, 120,
               "both workers to be learning", workers=[first, second])
    keys = Keys(settings.redis.key_prefix)
    wait_until(lambda: all(redis_client.exists(keys.snapshot(p), keys.item_snapshot(p)) == 2
                           for p in range(settings.kafka.partitions)), 60,
               "every shard snapshotted, so the survivor restores the dead worker's",
               workers=[first, second])
    restored_before = second.output().count(" restored")
    first.stop(signal.SIGKILL)

    send_raw(settings, traffic.messages[half:])
    wait_until(lambda: applied_events(redis_client, settings) >= traffic.valid_count
               and learned(settings) >= interactions
               and steps_applied(settings) >= interactions, 180,
               "the survivor to take over and drain the stream", workers=[second])
    second.stop()  # a clean stop: nothing more can arrive, so a double count would show now
    # The survivor restored the dead worker's shards from their snapshots (it did not relearn
    # them from the start: the counts below would still match, but slowly).
    assert second.output().count(" restored") > restored_before
    assert_state_matches(redis_client, settings, traffic)
    assert learned(settings) == interactions
    # The item halves too: each applied once by its item's single writer, replays skipped.
    assert steps_applied(settings) == interactions
    # User shards drew negatives from the item vectors the item shards broadcast.
    assert sum(int(redis_client.hget(keys.item_learning(p), "negatives") or 0)
               for p in range(settings.kafka.partitions)) > 0

    keys = Keys(settings.redis.key_prefix)
    for partition in range(settings.kafka.partitions):
        figures = redis_client.hgetall(keys.learning(partition))
        offsets = json.loads(figures["offsets"])
        assert set(offsets) <= {settings.topics.clicks, settings.topics.purchases}
        metrics = json.loads(figures["metrics"])
        assert metrics["n"] > 0 and 0 <= metrics["hits"] <= metrics["n"]
    assert redis_client.exists(keys.snapshot(0))
    user = next(iter(traffic.user_clicks))
    binary = redis.Redis.from_url(settings.redis.url)
    assert len(binary.get(keys.user_embedding(user))) == 32 * 4  # float32 x 32 factors
    busiest = max(traffic.item_clicks, key=traffic.item_clicks.get)
    assert len(binary.get(keys.item_embedding(busiest))) == 32 * 4  # one key, one writer
    # Global trending, counted by the items' writers: exactly what one model counts of the
    # whole stream, crash and replays included.
    expected = expected_trending(settings, traffic)
    stored = dict(redis_client.zrange(keys.trending("global"), 0, -1, withscores=True))
    assert set(stored) == set(traffic.item_clicks) | set(traffic.item_purchases)
    for item, score in stored.items():
        assert score == pytest.approx(
            expected.log_score(expected.count(item, "global")), abs=1e-9)
    assert redis_client.zcard(keys.trending("location=United Kingdom")) > 0


def expected_trending(settings: Settings, traffic) -> Trending:  # type: ignore[no-untyped-def]
    """Global trending of the traffic's valid clicks and purchases, counted in one model."""
    model = Trending(half_life_s=TRENDING_HALF_LIFE_S)
    weights = {settings.topics.clicks: KIND_WEIGHTS["click"],
               settings.topics.purchases: KIND_WEIGHTS["purchase"]}
    for topic, _, value in traffic.messages:
        if topic in weights and value not in traffic.malformed:
            event = json.loads(value)
            model.add(event["item_id"], weights[topic],
                      datetime.fromisoformat(event["ts"]).timestamp(), None, None)
    return model


def test_a_tampered_snapshot_is_refused_and_the_shard_learns_again(
        settings, start_worker, redis_client):
    settings = settings.replace(snapshot_every_s=0.5, partitions=4)
    traffic = mixed_traffic(settings, 3_000, malformed_every=1_000_000, seed=6)
    interactions = sum(traffic.item_clicks.values()) + sum(traffic.item_purchases.values())
    worker = start_worker(settings)
    send_raw(settings, traffic.messages)
    wait_until(lambda: learned(settings) >= interactions, 120, "learning",
               workers=[worker])
    worker.stop(signal.SIGTERM)  # a clean stop snapshots every shard
    keys = Keys(settings.redis.key_prefix)
    raw = redis.Redis.from_url(settings.redis.url)
    blob = raw.get(keys.snapshot(0))
    raw.set(keys.snapshot(0), blob[:-1] + bytes([blob[-1] ^ 1]))  # flip one bit
    # Shard 0's exported count is the old worker's: only a count the new one writes may pass.
    raw.delete(keys.learning(0))

    restarted = start_worker(settings)
    wait_until(lambda: "snapshot of shard 0 refused" in restarted.output(), 60,
               "the refusal to be logged", workers=[restarted])
    wait_until(lambda: learned(settings) >= interactions, 120,
               "shard 0 to learn its partition again", workers=[restarted])
    assert learned(settings) == interactions


def test_impressions_joined_with_clicks_label_the_context_model(settings, start_worker,
                                                                redis_client):
    """Shown [a, b, c], clicked b: one positive; when the window has passed, a and c negatives."""
    def message(body: str) -> bytes:
        return ('{"schema_version":1,' + body + "}").encode()

    worker = start_worker(settings)
    send_raw(settings, [
        (settings.topics.impressions, b"u1", message(
            '"request_id":"r1","user_id":"u1","item_ids":["a","b","c"],'
            '"ts":"2011-03-01T09:00:00Z"')),
    ])
    send_raw(settings, [
        (settings.topics.clicks, b"u1", message(
            '"event_id":"e1","user_id":"u1","item_id":"b","ts":"2011-03-01T09:05:00Z"')),
        # Two hours later, past the 30-minute window: the unclicked a and c become negatives.
        (settings.topics.clicks, b"u1", message(
            '"event_id":"e2","user_id":"u1","item_id":"d","ts":"2011-03-01T11:05:00Z"')),
    ])
    keys = Keys(settings.redis.key_prefix)
    wait_until(lambda: learned(settings) == 2, 60, "both clicks learned",
               workers=[worker])
    figures = next(f for p in range(settings.kafka.partitions)
                   if (f := redis_client.hgetall(keys.learning(p))))
    assert figures["impressions"] == "1"
    assert figures["joined_labels"] == "3"  # b positive, then a and c negative
    assert redis_client.hget(keys.stats, "impressions") == "1"
