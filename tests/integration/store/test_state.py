"""The state writer against the real Redis: each source offset is applied once, whatever happens."""

from __future__ import annotations

import asyncio
import functools
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from stream.contracts.records import Decoded, Record
from stream.contracts.schemas import ClickEvent, PurchaseEvent, WeatherEvent
from stream.store.keys import Keys
from stream.store.state import StateWriter

pytestmark = pytest.mark.integration
T0 = datetime(2011, 1, 1, tzinfo=UTC)


def click(offset: int, user: str = "u1", item: str = "i1", partition: int = 0) -> Decoded:
    event = ClickEvent(event_id=f"e{offset}", user_id=user, item_id=item,
                       ts=T0 + timedelta(seconds=offset))
    return Decoded(Record("clicks", partition, offset, user.encode(), event.to_json()), event)


def weather(offset: int, condition: str, ts: datetime) -> Decoded:
    event = WeatherEvent(location="UK", ts=ts, temp_c=5, precip_mm=0, condition=condition)
    return Decoded(Record("weather", 0, offset, b"UK", event.to_json()), event)


async def nothing(fresh: list[Decoded]) -> None:
    return None


def in_loop(test):
    """Run an async test in a loop of its own (Redis clients are made inside it)."""
    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))
    return wrapper


@pytest.fixture
def writer_factory(stack):
    prefix = f"st{uuid.uuid4().hex[:8]}"

    def make(recent_items: int = 50) -> StateWriter:
        return StateWriter(Redis.from_url(stack.redis.url), prefix, recent_items=recent_items)

    return make


@in_loop
async def test_a_redelivered_batch_changes_nothing(writer_factory, redis_client):
    writer = writer_factory()
    batch = [click(0), click(1, item="i2"), click(2)]
    assert len(await (writer.apply(batch, nothing))) == 3
    assert await (writer.apply(batch, nothing)) == []
    keys = Keys(writer.keys.prefix)
    assert redis_client.hget(keys.item("i1"), "clicks") == "2"
    assert redis_client.get(keys.offset("clicks", 0)) == "3"


@in_loop
async def test_an_overlapping_batch_applies_only_the_new_records(writer_factory, redis_client):
    writer = writer_factory()
    await (writer.apply([click(0), click(1)], nothing))
    fresh = await (writer.apply([click(1), click(2), click(0, partition=1)], nothing))
    assert [(d.record.partition, d.record.offset) for d in fresh] == [(0, 2), (1, 0)]
    assert redis_client.hget(Keys(writer.keys.prefix).item("i1"), "clicks") == "4"


@in_loop
async def test_nothing_is_applied_when_the_side_effects_before_commit_fail(writer_factory,
                                                                     redis_client):
    writer = writer_factory()

    async def broker_down(fresh):
        raise ConnectionError("DLQ unreachable")

    with pytest.raises(ConnectionError):
        await writer.apply([click(0)], broker_down)
    assert redis_client.hget(Keys(writer.keys.prefix).item("i1"), "clicks") is None
    assert len(await (writer.apply([click(0)], nothing))) == 1  # the retry applies it, once


@in_loop
async def test_two_writers_racing_on_one_partition_apply_each_record_once(writer_factory,
                                                                    redis_client):
    a, b = writer_factory(), writer_factory()
    batch = [click(n) for n in range(200)]

    first, second = await asyncio.gather(a.apply(batch, nothing), b.apply(batch, nothing))
    assert len(first) + len(second) == 200
    assert redis_client.hget(Keys(a.keys.prefix).item("i1"), "clicks") == "200"


@in_loop
async def test_recent_items_are_newest_first_and_bounded(writer_factory, redis_client):
    writer = writer_factory(recent_items=3)
    await (writer.apply([click(n, item=f"i{n}") for n in range(5)], nothing))
    assert redis_client.lrange(Keys(writer.keys.prefix).recent("u1"), 0, -1) == ["i4", "i3", "i2"]


@in_loop
async def test_purchases_count_orders_and_units_and_mark_the_item_purchased(writer_factory,
                                                                      redis_client):
    writer = writer_factory()
    event = PurchaseEvent(event_id="p", user_id="u1", order_id="o", item_id="i9", quantity=3,
                          price=1.5, ts=T0, location="France")
    await (writer.apply([Decoded(Record("purchases", 0, 0, b"u1", b""), event)], nothing))
    keys = Keys(writer.keys.prefix)
    assert redis_client.hgetall(keys.item("i9")) == {"purchases": "1", "units": "3"}
    assert redis_client.smembers(keys.purchased("u1")) == {"i9"}
    assert redis_client.hget(keys.user("u1"), "location") == "France"


@in_loop
async def test_late_weather_does_not_overwrite_newer_weather(writer_factory, redis_client):
    writer = writer_factory()
    await (writer.apply([weather(0, "rain", T0 + timedelta(days=1))], nothing))
    await (writer.apply([weather(1, "clear", T0)], nothing))  # an old report arriving late
    assert redis_client.hget(Keys(writer.keys.prefix).weather("UK"), "condition") == "rain"
    await (writer.apply([weather(2, "snow", T0 + timedelta(days=2))], nothing))
    assert redis_client.hget(Keys(writer.keys.prefix).weather("UK"), "condition") == "snow"


@in_loop
async def test_dead_letters_are_counted_but_change_no_state(writer_factory, redis_client):
    writer = writer_factory()
    bad = Decoded(Record("clicks", 0, 0, None, b"{"), None, "invalid JSON")
    fresh = await (writer.apply([bad, click(1)], nothing))
    assert len(fresh) == 2
    assert redis_client.hget(Keys(writer.keys.prefix).stats, "dead_letters") == "1"
    assert redis_client.hget(Keys(writer.keys.prefix).stats, "clicks") == "1"


@in_loop
async def test_user_and_item_keys_expire_unless_written_again_but_stats_and_offsets_stay(
        stack, redis_client):
    writer = StateWriter(Redis.from_url(stack.redis.url), f"ttl{uuid.uuid4().hex[:6]}",
                         ttl_s=3600)
    await writer.apply([click(0)], nothing)
    keys = writer.keys
    for key in (keys.user("u1"), keys.recent("u1"), keys.item("i1")):
        assert 3500 < redis_client.ttl(key) <= 3600
    assert redis_client.ttl(keys.stats) == -1 and redis_client.ttl(keys.offset("clicks", 0)) == -1


@in_loop
async def test_a_newer_click_without_a_location_keeps_the_older_ones_location(writer_factory,
                                                                              redis_client):
    writer = writer_factory()
    placed = ClickEvent(event_id="a", user_id="u1", item_id="i1", ts=T0, location="France")
    unplaced = ClickEvent(event_id="b", user_id="u1", item_id="i2", ts=T0 + timedelta(hours=1))
    await writer.apply([Decoded(Record("clicks", 0, 0, b"u1", b""), placed),
                        Decoded(Record("clicks", 0, 1, b"u1", b""), unplaced)], nothing)
    stored = redis_client.hgetall(writer.keys.user("u1"))
    assert stored["location"] == "France"
    assert stored["ts_ms"] == str(int((T0 + timedelta(hours=1)).timestamp() * 1000))


@in_loop
async def test_an_id_that_spells_another_key_writes_only_its_own(writer_factory, redis_client):
    writer = writer_factory()
    keys = Keys(writer.keys.prefix)
    # The first reproduction of the hardening issue: alice, then a user named "alice:recent".
    await writer.apply([click(0, user="alice"), click(1, user="alice:recent", item="i2")],
                       nothing)
    assert redis_client.lrange(keys.recent("alice"), 0, -1) == ["i1"]
    assert redis_client.lrange(keys.recent("alice:recent"), 0, -1) == ["i2"]
    assert redis_client.hget(keys.user("alice:recent"), "clicks") == "1"


@in_loop
async def test_a_key_of_another_type_dead_letters_its_records_and_the_rest_applies_whole(
        writer_factory, redis_client):
    writer = writer_factory()
    keys = Keys(writer.keys.prefix)
    redis_client.set(keys.recent("mallory"), "put here by another program")
    letters: list[Decoded] = []

    async def dead_letters(fresh: list[Decoded]) -> None:
        letters.extend(d for d in fresh if d.event is None)

    applied = await writer.apply([click(0, user="mallory"), click(1, user="bob")], dead_letters)
    assert [d.event is None for d in applied] == [True, False]
    assert applied[0].reason.startswith("state_conflict: key") and "holds a string" in applied[0].reason
    assert [d.record.offset for d in letters] == [0]
    assert redis_client.get(keys.recent("mallory")) == "put here by another program"
    assert redis_client.hget(keys.user("mallory"), "clicks") is None  # nothing of it written
    assert redis_client.hget(keys.user("bob"), "clicks") == "1"
    assert redis_client.get(keys.offset("clicks", 0)) == "2"
    assert redis_client.hget(keys.stats, "dead_letters") == "1"
