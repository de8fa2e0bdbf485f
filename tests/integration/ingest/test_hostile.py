"""Hostile input through one worker: it never stops, every record is applied once or becomes a
dead letter with its reason, and learning goes on."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from stream.store.keys import Keys
from stream.store.reads import StateReader
from tests.integration.conftest import wait_until
from tests.integration.hostile import hostile_records
from tests.integration.ingest.test_ingestion import read_dead_letters
from tests.integration.traffic import mixed_traffic, send_raw

pytestmark = pytest.mark.integration


def click(user: str, item: str, ts: str, n: int) -> bytes:
    return json.dumps({"schema_version": 1, "event_id": f"r{n}", "user_id": user,
                       "item_id": item, "ts": ts}).encode()


def test_hostile_records_neither_stop_the_worker_nor_move_its_models(settings, start_worker):
    settings = settings.replace(snapshot_every_s=1.0)  # expiry runs at every snapshot
    reader = StateReader(settings.redis)
    shards = range(settings.kafka.partitions)
    worker = start_worker(settings)
    # Dated now, as the hostile records' valid ones are: a day's traffic whose items the TTL
    # keeps, unless an event's clock jumps (then they expire at the next snapshot).
    start = datetime.now(UTC) - timedelta(hours=3)
    before = mixed_traffic(settings, 4_000, malformed_every=10**9, seed=31, start=start)
    send_raw(settings, before.messages)
    first = sum(before.item_clicks.values()) + sum(before.item_purchases.values())
    wait_until(lambda: reader.learned(shards) >= first and reader.steps_applied(shards) >= first,
               120, "the first traffic learned", workers=[worker])
    items_before = sum(int(reader.item_learning(p).get("items", 0)) for p in shards)

    now = datetime.now(UTC).isoformat()
    clicks = settings.topics.clicks
    reproductions = [  # the two: a user named after another's key, and clicks in 2100
        (clicks, b"alice", click("alice", "tea", now, 0)),
        (clicks, b"alice:recent", click("alice:recent", "rum", now, 1)),
        *[(clicks, f"u{n}".encode(), click(f"u{n}", "i1", "2100-01-01T00:00:00+00:00", n + 2))
          for n in range(40)]]  # 40 users: every partition gets some
    hostile = hostile_records(settings, 3_000)
    after = mixed_traffic(settings, 4_000, malformed_every=10**9, seed=32,
                          start=start + timedelta(hours=1, minutes=10))
    send_raw(settings, reproductions + hostile)
    send_raw(settings, after.messages)
    sent = len(before.messages) + len(reproductions) + len(hostile) + len(after.messages)
    second = sum(after.item_clicks.values()) + sum(after.item_purchases.values())

    wait_until(lambda: reader.applied_total() >= sent, 240, "every record dealt with",
               workers=[worker])
    wait_until(lambda: reader.learned(shards) >= first + second
               and reader.steps_applied(shards) >= first + second, 240,
               "the traffic after the hostile records learned", workers=[worker])
    assert worker.alive
    assert reader.applied_total() == sent  # each applied once or dead-lettered, none twice

    stats = reader.stats()
    letters = read_dead_letters(settings, stats["dead_letters"])
    sources = {(letter.source_topic, letter.partition, letter.offset) for letter in letters}
    assert len(sources) == stats["dead_letters"] > 0
    assert all(letter.reason for letter in letters)
    assert all(len(letter.to_json()) < 1_000_000 for letter in letters)
    assert sum(reader.dead_letter_reasons().values()) == stats["dead_letters"]
    future = [letter for letter in letters if letter.reason.startswith("ts_in_future")]
    assert len(future) >= 40

    keys = Keys(settings.redis.key_prefix)
    # alice's list is alice's alone; the user named "alice:recent" has a list of its own.
    assert reader.client.type(keys.recent("alice")) == "list"
    assert "rum" not in reader.client.lrange(keys.recent("alice"), 0, -1)
    assert "rum" in reader.client.lrange(keys.recent("alice:recent"), 0, -1)
    # No clock moved to 2100: the item shards still hold their items after their snapshots.
    items_after = sum(int(reader.item_learning(p).get("items", 0)) for p in shards)
    assert items_after >= items_before > 0


def test_garbage_on_the_internal_topics_becomes_dead_letters_and_every_worker_goes_on(
        settings, start_worker):
    reader = StateReader(settings.redis)
    shards = range(settings.kafka.partitions)
    worker = start_worker()
    topics = settings.topics
    garbage = [(topics.item_steps, b"0", b"not json"), (topics.item_steps, b"1", b'{"src": 1}'),
               (topics.item_vectors, b"tea", b"\x00\x01\x02"),
               (topics.item_vectors, b"jam", b"\x00" * 8 + b"\x00\x00\xc0\x7f"),  # NaN
               (topics.item_trending, b"[0, \"global\"]", b"[1, 2]"),
               (topics.item_trending, b"garbage", b"[0, 1, {}, []]")]
    send_raw(settings, garbage)
    traffic = mixed_traffic(settings, 2_000, malformed_every=10**9, seed=41)
    send_raw(settings, traffic.messages)
    interactions = sum(traffic.item_clicks.values()) + sum(traffic.item_purchases.values())
    wait_until(lambda: reader.learned(shards) >= interactions
               and reader.steps_applied(shards) >= interactions
               and reader.stats().get("dead_letters", 0) >= len(garbage), 120,
               "the traffic learned and the garbage dead-lettered", workers=[worker])
    letters = read_dead_letters(settings, len(garbage))
    assert sorted(letter.source_topic for letter in letters) == sorted(t for t, _, _ in garbage)
    assert all(letter.reason.startswith("invalid") for letter in letters)
    kinds = reader.dead_letter_reasons()
    assert kinds["invalid item-step message"] == 2
    assert sum(int(reader.item_learning(p).get("rejected", 0)) for p in shards) == 2
