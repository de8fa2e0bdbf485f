"""The learner's store against the real Redis: a trending set holds what the item shards hold."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from redis.asyncio import Redis

from stream.learning.plan import Plan
from stream.store.keys import Keys
from stream.store.learner import RedisLearnerStore

pytestmark = pytest.mark.integration


def test_an_item_without_a_score_leaves_its_trending_set_and_an_emptied_set_is_gone(
        stack, redis_client):
    keys = Keys(f"ls{uuid.uuid4().hex[:8]}")
    york = keys.trending("location=York")

    async def write(*trending: tuple[str, float | None, str]) -> None:
        client = Redis.from_url(stack.redis.url)
        await RedisLearnerStore(client, keys, ttl_s=600.0).write(Plan(trending=list(trending)))
        await client.aclose()

    asyncio.run(write(("location=York", 3.5, "jam"), ("location=York", 2.0, "tea"),
                      ("global", 1.0, "jam")))
    assert redis_client.zrange(york, 0, -1) == ["tea", "jam"]
    assert 0 < redis_client.ttl(york) <= 600  # unwritten for the state TTL, a set expires
    # The item shards expired jam and dropped the scope with tea: the set is gone, not empty.
    asyncio.run(write(("location=York", None, "jam"), ("location=York", None, "tea")))
    assert not redis_client.exists(york)
    assert redis_client.zrange(keys.trending("global"), 0, -1) == ["jam"]
