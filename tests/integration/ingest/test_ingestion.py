"""Every valid event is reflected in Redis exactly once; every malformed one is dead-lettered."""

from __future__ import annotations

import hashlib
import json
import signal
import time

import pytest
from confluent_kafka import Consumer, Producer

from stream.contracts.records import signed_origin
from stream.contracts.schemas import DeadLetter
from stream.learning.snapshots import snapshot_key
from stream.settings import Settings
from stream.store.keys import Keys
from tests.integration.conftest import wait_until
from tests.integration.traffic import (
    applied_events,
    assert_state_matches,
    learned,
    mixed_traffic,
    send_raw,
)

pytestmark = pytest.mark.integration


def read_dead_letters(settings: Settings, expected: int, timeout_s: float = 60) -> list[DeadLetter]:
    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap,
                         "group.id": f"{settings.worker.app_id}-dlq-reader",
                         "auto.offset.reset": "earliest"})
    """Every letter on the DLQ, duplicates included (a caller that expects none counts them),
    once at least ``expected`` arrived and the topic then stayed quiet for a poll."""
    consumer.subscribe([settings.topics.dlq])
    letters: list[DeadLetter] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                if len(letters) >= expected:
                    break
                continue
            # Read with a plain JSON parser: any Kafka client can read a dead letter.
            letters.append(DeadLetter.model_validate(json.loads(message.value())))
    finally:
        consumer.close()
    return letters


def test_mixed_stream_is_applied_exactly_once_and_malformed_go_to_the_dlq(
        settings, start_worker, redis_client):
    traffic = mixed_traffic(settings, 10_000, malformed_every=100)
    worker = start_worker()
    send_raw(settings, traffic.messages)

    wait_until(lambda: applied_events(redis_client, settings) >= traffic.valid_count, 120,
               "every valid event in Redis", workers=[worker])
    worker.stop()  # a clean stop: nothing more can arrive, so a double count would show now
    assert_state_matches(redis_client, settings, traffic)

    letters = read_dead_letters(settings, len(traffic.malformed))
    sources = [(letter.source_topic, letter.partition, letter.offset) for letter in letters]
    assert len(sources) == len(set(sources)), "a letter was sent twice without any crash"
    # Each letter identifies its whole record (size, SHA-256) and keeps it, or its first 64 KiB.
    assert sorted((letter.payload_size, letter.payload_sha256) for letter in letters) == sorted(
        (len(raw), hashlib.sha256(raw).hexdigest()) for raw in traffic.malformed)
    assert all(raw.startswith(letter.original()) for letter in letters
               for raw in traffic.malformed if hashlib.sha256(raw).hexdigest()
               == letter.payload_sha256)
    reasons = " | ".join(letter.reason for letter in letters)
    for expected in ("invalid JSON", "Input should be a valid string", "Field required",
                     "oversized", "unknown schema_version", "timezone", "expected a JSON object"):
        assert expected in reasons
    assert "greater than or equal to 0" in reasons or "Input should be 'desktop'" in reasons
    assert all(letter.source_topic in settings.topics.events for letter in letters)


def test_a_worker_killed_mid_stream_resumes_without_losing_or_repeating(
        settings, start_worker, redis_client):
    traffic = mixed_traffic(settings, 20_000, malformed_every=100, seed=2)
    first = start_worker()
    half = len(traffic.messages) // 2
    send_raw(settings, traffic.messages[:half])
    wait_until(lambda: applied_events(redis_client, settings) > 2_000, 120,
               "the first worker to be mid-stream", interval_s=0.01, workers=[first])
    first.stop(signal.SIGKILL)
    assert applied_events(redis_client, settings) < traffic.valid_count

    send_raw(settings, traffic.messages[half:])
    second = start_worker()
    wait_until(lambda: applied_events(redis_client, settings) >= traffic.valid_count, 120,
               "the restarted worker to drain the stream", workers=[second])
    second.stop()
    assert_state_matches(redis_client, settings, traffic)
    letters = read_dead_letters(settings, len(traffic.malformed))
    # At least once across a crash: a letter may come twice (same key), none may be missing.
    assert len({(letter.source_topic, letter.partition, letter.offset) for letter in letters}) \
        == len(traffic.malformed)


def test_an_event_under_the_wrong_key_is_forwarded_to_its_owner_and_applied_once(
        settings, start_worker, redis_client):
    click = (b'{"schema_version":1,"event_id":"e1","user_id":"u42","item_id":"i1",'
             b'"ts":"2011-03-01T09:00:00Z"}')
    worker = start_worker()
    send_raw(settings, [(settings.topics.clicks, b"not-the-user", click),
                        (settings.topics.clicks, None, click.replace(b"e1", b"e2"))])
    stats_key = Keys(settings.redis.key_prefix).stats
    wait_until(lambda: redis_client.hget(stats_key, "clicks") == "2", 60,
               "both clicks applied by the owner of u42", workers=[worker])
    worker.stop()
    assert redis_client.hgetall(stats_key) == {"clicks": "2", "rekeyed": "2"}
    assert redis_client.hget(Keys(settings.redis.key_prefix).user("u42"), "clicks") == "2"


def test_a_record_forwarded_twice_is_applied_and_learned_once(settings, start_worker,
                                                              redis_client):
    # What a forwarder that crashed after its forward and before its commit leaves: two copies
    # of one source record, each naming it in the origin header.
    click = (b'{"schema_version":1,"event_id":"e1","user_id":"u42","item_id":"i9",'
             b'"ts":"2011-03-01T09:00:00Z"}')
    other = click.replace(b"e1", b"e2").replace(b"i9", b"i8")
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap,
                         "partitioner": "murmur2_random"})
    key = snapshot_key(settings)  # the fleet's key, which the worker reads from the same place
    for value, origin in ((click, "shop.clicks:3:17"), (click, "shop.clicks:3:17"),
                          (other, "shop.clicks:3:18")):
        producer.produce(settings.topics.clicks, value, b"u42", headers=[
            ("recstream-origin", signed_origin(origin, value, key).encode())])
    assert producer.flush(30) == 0
    worker = start_worker()
    keys = Keys(settings.redis.key_prefix)
    wait_until(lambda: int(redis_client.hget(keys.stats, "duplicate_forwards") or 0) == 1
               and learned(settings) == 2, 60,
               "both source records applied and learned, the second copy skipped",
               workers=[worker])
    assert redis_client.hget(keys.user("u42"), "clicks") == "2"
    assert redis_client.lrange(keys.recent("u42"), 0, -1) == ["i8", "i9"]
    worker.stop()
    # The learners start again from nothing (no snapshot, no figures) and replay the topic,
    # both copies included: the applied copy is learned, the other is not.
    for partition in range(settings.kafka.partitions):
        redis_client.delete(keys.snapshot(partition), keys.learning(partition))
    restarted = start_worker()
    wait_until(lambda: learned(settings) >= 2, 60, "the replay learned",
               workers=[restarted])
    assert learned(settings) == 2
    assert redis_client.hget(keys.user("u42"), "clicks") == "2"

