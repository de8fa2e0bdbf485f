"""The request path with no Kafka and no Redis: request records in, replies and impressions out.

A user shard learns a few interactions; requests for its users arrive as records of its
partition; an in-memory store answers the reads and an in-memory sender keeps what was sent.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from models.base import Interaction
from stream.contracts.records import Message, Record
from stream.contracts.schemas import ClickEvent, DeadLetter, Impression
from stream.contracts.serving import RecommendationReply
from stream.learning.interactions import InteractionBuilder, Weather
from stream.learning.user_shard import UserShard
from stream.serving.answer import UserFacts
from stream.serving.rules import Facts, Rules
from stream.serving.server import Server, Topics
from stream.settings import LearningSettings

TS = 1_300_000_000.0  # the shard's clock: a replay of 2011


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class MemoryStore:
    def __init__(self) -> None:
        self.purchased: dict[str, set[str]] = {}
        self.out_of_stock: set[str] = set()
        self.counted: list[tuple[int, int, int]] = []

    async def users(self, user_ids: Sequence[str], locations: Sequence[str]
                    ) -> tuple[dict[str, UserFacts], dict[str, Weather]]:
        return ({u: UserFacts(set(self.purchased.get(u, ()))) for u in user_ids},
                {loc: Weather("rain", 9.0) for loc in locations})

    async def catalogue(self, item_ids: Sequence[str]) -> Facts:
        return Facts(out_of_stock=self.out_of_stock & set(item_ids))

    async def count(self, requests: int, errors: int, letters: Sequence[DeadLetter]) -> None:
        self.counted.append((requests, errors, len(letters)))


class MemorySender:
    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.letters: list[DeadLetter] = []

    async def send(self, messages: Sequence[Message]) -> None:
        self.sent.extend(messages)

    async def dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        self.letters.extend(letters)

    async def missing(self, topics: Collection[str]) -> set[str]:
        return {topic for topic in topics if topic.startswith("gone.")}

    def replies(self, topic: str = "replies") -> dict[str, RecommendationReply]:
        return {key.decode(): RecommendationReply.model_validate_json(value or b"")
                for t, _, key, value in self.sent if t == topic}

    def impressions(self) -> list[Impression]:
        return [Impression.model_validate_json(value or b"")
                for t, _, _, value in self.sent if t == "impressions"]


@pytest.fixture
def shard() -> UserShard:
    shard = UserShard.new(0, LearningSettings(min_item_count=1), exclude_purchased=True)
    for i, (user, item) in enumerate([("ann", "tea"), ("ann", "jam"), ("bob", "tea"),
                                      ("bob", "jam"), ("bob", "mug"), ("cat", "mug")]):
        shard.feed(Interaction(user, item, ts=TS + i, session_id=f"{user}{i}", kind="purchase"))
    shard.close_basket()
    return shard


class Harness:
    def __init__(self, shard: UserShard, rules: Rules | None = None) -> None:
        self.store, self.sender = MemoryStore(), MemorySender()
        self.server = Server({0: shard}.get, InteractionBuilder(default_location="UK"),
                             self.store, self.sender, rules or Rules(), Topics("requests", "impressions"),
                             default_deadline_ms=1_000, max_message_bytes=64 * 1024,
                             partition_of=lambda user: 0)
        self.offset = 0

    def ask(self, *requests: dict[str, Any] | bytes, partition: int = 0,
            sent_ms: float | None = None) -> list[RecommendationReply]:
        records = []
        for request in requests:
            value = request if isinstance(request, bytes) else json.dumps(
                {"schema_version": 1, "reply_to": "replies", **request}).encode()
            records.append(Record("reco.requests", partition, self.offset, b"k", value,
                                  int(sent_ms if sent_ms is not None else time.time() * 1000)))
            self.offset += 1
        return asyncio.run(self.server.answer(records))


def test_a_request_is_answered_from_the_users_shard_with_its_history(shard):
    harness = Harness(shard, Rules(exclude_purchased=False))
    reply, = harness.ask({"request_id": "r1", "user_id": "ann", "k": 3})
    assert reply.error is None and reply.request_id == "r1"
    assert {"tea", "jam"} <= {item.item_id for item in reply.items}
    assert reply.degraded == ["no_weather"]  # no weather known at UK in this test
    assert set(reply.timings_ms) == {"queued", "read", "rank", "total"}
    assert harness.sender.replies()["r1"] == reply


def test_purchased_and_excluded_and_out_of_stock_items_never_come_back(shard):
    harness = Harness(shard)
    harness.store.purchased["ann"] = {"tea"}
    harness.store.out_of_stock = {"mug"}
    reply, = harness.ask({"request_id": "r1", "user_id": "ann", "k": 10, "exclude": ["jam"]})
    assert reply.error is None
    assert not {"tea", "jam", "mug"} & {item.item_id for item in reply.items}


def test_an_unknown_user_is_answered_and_the_reply_says_so(shard):
    harness = Harness(shard)
    reply, = harness.ask({"request_id": "r1", "user_id": "newcomer", "k": 2,
                          "context": {"location": "Paris"}})
    assert reply.error is None and "no_history" in reply.degraded
    assert "no_weather" not in reply.degraded  # the store knew Paris's weather


def test_every_reply_with_items_is_logged_as_an_impression_at_the_shards_time(shard):
    harness = Harness(shard, Rules(exclude_purchased=False))
    reply, = harness.ask({"request_id": "r1", "user_id": "bob", "k": 2})
    impression, = harness.sender.impressions()
    assert impression.request_id == "r1" and impression.user_id == "bob"
    assert impression.item_ids == [item.item_id for item in reply.items]
    assert impression.ts.timestamp() == shard.clock


def test_an_impression_passes_every_event_its_shard_read_so_a_held_click_is_learned():
    """A shard holds a click back until the impressions topic is read past it. Logged at the
    learned clock, no impression ever passed it (the click waited for the topic's very end);
    logged at the latest time read, the next impression read back lets it go."""
    builder = InteractionBuilder(default_location="UK")
    shard = UserShard.new(0, LearningSettings(min_item_count=1), exclude_purchased=True)
    shard.feed(Interaction("bob", "jam", ts=TS, session_id="b", kind="purchase"))
    shard.close_basket()
    shard.arrive("impressions", 0, Impression(request_id="r0", user_id="ann", item_ids=["tea"],
                                              ts=_utc(TS)), builder)
    shard.arrive("clicks", 0, ClickEvent(event_id="c1", user_id="ann", item_id="tea",
                                         ts=_utc(TS + 60), session_id="s"), builder)
    behind = {"impressions"}  # more impressions are produced all the time
    shard.release(behind)
    assert shard.clock == TS and len(shard.arrivals) == 1  # the click is held

    harness = Harness(shard, Rules(exclude_purchased=False))
    harness.ask({"request_id": "r1", "user_id": "bob", "k": 2})
    impression, = harness.sender.impressions()
    assert impression.ts.timestamp() == TS + 60  # what the shard read, not what it learned
    shard.arrive("impressions", 1, impression, builder)
    shard.release(behind)
    assert shard.clock == TS + 60  # the click was learned


def test_a_malformed_request_gets_an_error_reply_and_a_dead_letter(shard):
    harness = Harness(shard)
    reply, = harness.ask(b'{"schema_version":1,"request_id":"r9","reply_to":"replies","k":0}')
    assert reply.request_id == "r9" and reply.error is not None
    assert reply.error.code == "invalid_request" and "user_id" in reply.error.message
    letter, = harness.sender.letters
    assert letter.reason.startswith("invalid RecommendationRequest")
    assert harness.store.counted == [(1, 1, 1)]


def test_a_request_whose_reply_topic_kafka_lacks_is_a_dead_letter_and_the_rest_are_answered(
        shard):
    """A send to a topic the broker lacks waits for it (and retries): one such request would
    hold up every request behind it."""
    harness = Harness(shard, Rules(exclude_purchased=False))
    replies = harness.ask({"request_id": "r1", "user_id": "ann", "k": 2, "reply_to": "gone.x"},
                          {"request_id": "r2", "user_id": "bob", "k": 2},
                          {"request_id": "r3", "user_id": "bob", "reply_to": "gone.y",
                           "deadline_ms": 1})
    assert [reply.request_id for reply in replies] == ["r2"]
    assert set(harness.sender.replies()) == {"r2"}
    assert {t for t, *_ in harness.sender.sent} == {"replies", "impressions"}
    assert [i.request_id for i in harness.sender.impressions()] == ["r2"]  # r1 showed nothing
    assert sorted(letter.reason for letter in harness.sender.letters) == [
        "reply_to: Kafka has no topic 'gone.x', so no reply can be sent",
        "reply_to: Kafka has no topic 'gone.y', so no reply can be sent"]


def test_a_request_with_nowhere_to_reply_is_still_a_dead_letter(shard):
    harness = Harness(shard)
    assert harness.ask(b"not json") == []
    assert len(harness.sender.letters) == 1 and harness.sender.sent == []


def test_a_request_read_after_its_deadline_is_answered_at_once_with_an_error(shard):
    harness = Harness(shard)
    late, = harness.ask({"request_id": "r1", "user_id": "ann",
                         "deadline_ms": int(time.time() * 1000) - 5_000})
    assert late.error is not None and late.error.code == "deadline_exceeded"
    stale, = harness.ask({"request_id": "r2", "user_id": "ann"},
                         sent_ms=time.time() * 1000 - 60_000)  # the default deadline: 1 s
    assert stale.error is not None and stale.error.code == "deadline_exceeded"


def test_a_request_on_a_partition_not_held_here_is_unavailable(shard):
    harness = Harness(shard)
    harness.server.shards = {}.get  # partition 0 moved away since the fetch
    reply, = harness.ask({"request_id": "r1", "user_id": "ann"})
    assert reply.error is not None and reply.error.code == "unavailable"


def test_a_request_on_the_wrong_partition_goes_to_its_users_partition(shard):
    harness = Harness(shard)
    assert harness.ask({"request_id": "r1", "user_id": "ann"}, partition=3) == []
    (topic, partition, key, value), = harness.sender.sent
    assert (topic, partition, key) == ("requests", 0, b"ann")
    assert json.loads(value or b"")["request_id"] == "r1"


def test_a_request_the_model_fails_on_fails_alone(shard, monkeypatch):
    harness = Harness(shard)

    def broken(user_id, *args, **kwargs):
        if user_id == "ann":
            raise FloatingPointError("poisoned")
        return []

    monkeypatch.setattr(shard.model, "recommend", broken)
    bad, good = harness.ask({"request_id": "r1", "user_id": "ann"},
                            {"request_id": "r2", "user_id": "bob"})
    assert bad.error is not None and bad.error.code == "internal"
    assert good.error is None
    assert "poisoned" in harness.sender.letters[0].reason
