"""Outages mid-stream: Redis away for 30 s, the broker restarted. Once the stream drains,
nothing is lost and nothing doubled, and the vectors in Redis are the item shards' own.

These tests stop and start the session's own Kafka and Redis (and leave them running).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import redis
from confluent_kafka import Consumer, TopicPartition

from models.embeddings import unpack
from stream.contracts.internal import decode_vector
from stream.ops.localstack import LocalStack
from stream.settings import Settings
from stream.store.keys import Keys
from tests.integration.conftest import _free_port, wait_until
from tests.integration.traffic import (
    Traffic,
    applied_events,
    assert_state_matches,
    learned,
    mixed_traffic,
    send_raw,
    steps_applied,
)

pytestmark = pytest.mark.integration


def readiness(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except OSError:
        return 0, {}






def broadcast_vectors(settings: Settings) -> dict[str, np.ndarray]:
    """The latest vector of every item on the broadcast topic: what every worker's shards hold."""
    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap, "group.id": "unused",
                         "enable.auto.commit": False})
    partitions = [TopicPartition(settings.topics.item_vectors, p, 0)
                  for p in range(settings.kafka.partitions)]
    ends = {p.partition: consumer.get_watermark_offsets(p, timeout=10)[1] for p in partitions}
    consumer.assign(partitions)
    vectors: dict[str, np.ndarray] = {}
    done = {p for p, end in ends.items() if end == 0}
    deadline = time.monotonic() + 60
    while len(done) < len(ends) and time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is None or message.error():
            continue
        item = message.key().decode()
        if message.value() is None:
            vectors.pop(item, None)
        else:
            vectors[item] = decode_vector(message.value())[0]
        if message.offset() + 1 >= ends[message.partition()]:
            done.add(message.partition())
    consumer.close()
    assert len(done) == len(ends), "the broadcast topic was not read to its end"
    return vectors


def drained(client: redis.Redis, settings: Settings, traffic: Traffic) -> bool:
    interactions = sum(traffic.item_clicks.values()) + sum(traffic.item_purchases.values())
    return (applied_events(client, settings) >= traffic.valid_count
            and learned(settings) >= interactions
            and steps_applied(settings) >= interactions)


def assert_exactly_once(client: redis.Redis, settings: Settings, traffic: Traffic) -> None:
    interactions = sum(traffic.item_clicks.values()) + sum(traffic.item_purchases.values())
    assert_state_matches(client, settings, traffic)
    assert learned(settings) == interactions
    assert steps_applied(settings) == interactions
    keys = Keys(settings.redis.key_prefix)
    raw = redis.Redis.from_url(settings.redis.url)
    shards = broadcast_vectors(settings)
    assert shards, "no item has a vector yet"
    for item, vector in shards.items():
        stored = raw.get(keys.item_embedding(item))
        assert stored is not None, item
        np.testing.assert_array_equal(unpack(stored), vector)


def test_redis_away_for_30_s_mid_stream_loses_and_doubles_nothing(
        stack, settings, start_worker, redis_client):
    port = _free_port()
    worker = start_worker(settings.replace(worker_web_port=port))
    traffic = mixed_traffic(settings, 12_000, malformed_every=100, seed=21)
    half = len(traffic.messages) // 2
    send_raw(settings, traffic.messages[:half])
    wait_until(lambda: applied_events(redis_client, settings) > 1_000, 120, "the worker busy",
               workers=[worker])
    wait_until(lambda: readiness(port)[0] == 200, 60, "the worker ready", workers=[worker])

    local = LocalStack(stack)
    local.processes.stop("redis", timeout_s=30)
    send_raw(settings, traffic.messages[half:])
    wait_until(lambda: readiness(port)[0] == 503, 60, "the worker reporting itself not ready",
               workers=[worker])
    _status, report = readiness(port)
    assert report["checks"]["redis"] != "ok"
    time.sleep(30)  # the outage itself
    assert worker.alive
    local.up()

    wait_until(lambda: drained(redis_client, settings, traffic), 240, "the stream drained",
               workers=[worker])
    wait_until(lambda: readiness(port)[0] == 200, 60, "the worker ready again", workers=[worker])
    worker.stop()  # a clean stop publishes and stores what is still pending
    assert_exactly_once(redis_client, settings, traffic)


def test_the_broker_restarted_mid_stream_loses_and_doubles_nothing(
        stack, settings, start_worker, redis_client):
    worker = start_worker()
    traffic = mixed_traffic(settings, 12_000, malformed_every=100, seed=22)
    half = len(traffic.messages) // 2
    send_raw(settings, traffic.messages[:half])
    wait_until(lambda: applied_events(redis_client, settings) > 1_000, 120, "the worker busy",
               workers=[worker])

    local = LocalStack(stack)
    local.processes.stop("kafka", timeout_s=60)
    local.up()
    send_raw(settings, traffic.messages[half:])

    wait_until(lambda: drained(redis_client, settings, traffic), 300, "the stream drained",
               workers=[worker])
    worker.stop()
    assert_exactly_once(redis_client, settings, traffic)
