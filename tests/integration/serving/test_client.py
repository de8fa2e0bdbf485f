"""Recommendations asked over Kafka, as a shop asks them: the sync and async clients and
`recstream recommend`, against a real worker on the real stack."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from stream.contracts.serving import RecommendationReply
from stream.ops.fleet import REPO_ROOT, WorkerProcess
from stream.settings import Settings
from stream.transport.client import (
    AsyncRecommendationClient,
    RecommendationClient,
    RecommendationTimeout,
)
from tests.integration.conftest import wait_until
from tests.integration.traffic import learned, send_raw

pytestmark = pytest.mark.integration

# Generous: the worker answers in milliseconds, but a loaded CI machine pauses.
TIMEOUT_S = 15.0
USERS = ("ann", "bob", "cat")
ITEMS = ("tea", "cup", "pot", "jam", "mug", "bun")


def clicks(settings: Settings) -> list[tuple[str, bytes, bytes]]:
    """Each user clicks through the items in turn, a minute apart, ending a few minutes ago."""
    start = datetime.now(UTC) - timedelta(hours=1)
    messages = []
    for u, user in enumerate(USERS):
        for i, item in enumerate(ITEMS[u:] + ITEMS[:u]):
            click = {"schema_version": 1, "event_id": f"{user}-{i}", "user_id": user,
                     "item_id": item, "ts": (start + timedelta(minutes=i)).isoformat()}
            messages.append((settings.topics.clicks, user.encode(), json.dumps(click).encode()))
    return messages


@pytest.fixture
def serving(settings: Settings, start_worker: Callable[..., WorkerProcess]) -> WorkerProcess:
    """A worker that has learned every click of USERS, so it holds their shards."""
    worker = start_worker(settings)
    messages = clicks(settings)
    send_raw(settings, messages)
    wait_until(lambda: learned(settings) >= len(messages), 120, "the clicks to be learned",
               workers=[worker])
    return worker


def answered(reply: RecommendationReply) -> bool:
    return reply.error is None and bool(reply.items)


def test_the_client_gets_a_learned_users_recommendations(settings, serving):
    with RecommendationClient(settings, timeout_s=TIMEOUT_S) as client:
        reply = client.request("ann", k=3, location="United Kingdom", exclude=["tea"])
        assert answered(reply), reply
        assert len(reply.items) <= 3 and "tea" not in {item.item_id for item in reply.items}
        assert "no_history" not in reply.degraded and reply.timings_ms["total"] >= 0
        assert [item.item_id for item in client.recommend("bob", k=3)]


def test_fifty_requests_in_flight_are_each_answered(settings, serving):
    with RecommendationClient(settings, timeout_s=TIMEOUT_S) as client:
        pending = [client.submit(user, k=2) for user in USERS * 17]  # 51 sent before any wait
        replies = [future.result() for future in pending]
    assert all(answered(reply) for reply in replies), [r for r in replies if not answered(r)]
    assert len({reply.request_id for reply in replies}) == 51


def test_a_user_with_no_events_is_answered_too(settings, serving):
    with RecommendationClient(settings, timeout_s=TIMEOUT_S) as client:
        reply = client.request("stranger", k=3)
    assert reply.error is None and "no_history" in reply.degraded


def test_the_async_client_gets_the_same_answers(settings, serving):
    async def ask() -> tuple[RecommendationReply, list[RecommendationReply]]:
        async with AsyncRecommendationClient(settings, timeout_s=TIMEOUT_S) as client:
            one = await client.request("ann", k=3)
            many = await asyncio.gather(*(client.request(user, k=2) for user in USERS * 17))
            return one, many

    one, many = asyncio.run(ask())
    assert answered(one), one
    assert all(answered(reply) for reply in many)
    assert len({reply.request_id for reply in many}) == 51


def test_no_worker_means_a_timeout_naming_the_request(settings):
    with RecommendationClient(settings, timeout_s=0.5) as client, pytest.raises(
            RecommendationTimeout, match=r"no reply to recommendation request \w+ within 0.5 s"):
        client.request("ann")


def recstream(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stream.cli", *args], cwd=REPO_ROOT,
                          env=settings.to_env() | {"PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)


def test_recstream_recommend_json_prints_the_reply(settings, serving):
    result = recstream(settings, "recommend", "--user", "ann", "--k", "3", "--timeout",
                       str(TIMEOUT_S), "--json")
    assert result.returncode == 0, result.stderr
    reply = RecommendationReply.model_validate(json.loads(result.stdout))
    assert answered(reply) and len(reply.items) <= 3

    text = recstream(settings, "recommend", "--user", "ann", "--k", "3", "--timeout",
                     str(TIMEOUT_S))
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("   1  ") and "degraded: " in text.stdout


def test_recstream_recommend_without_a_worker_fails_with_the_reason(settings):
    result = recstream(settings, "recommend", "--user", "ann", "--timeout", "0.5")
    assert result.returncode == 1
    assert "recstream: no reply to recommendation request" in result.stderr
    assert settings.topics.requests in result.stderr
