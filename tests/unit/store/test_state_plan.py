"""The state writer's plan of a batch: aggregated per key, newest fact wins, offsets advance."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from stream.contracts.records import Decoded, Record
from stream.contracts.schemas import ClickEvent, Event, PurchaseEvent, UserProfile, WeatherEvent
from stream.store.keys import Keys
from stream.store.state_plan import WEATHER_HISTORY, plan_writes

KEYS = Keys("p")
T0 = datetime(2011, 1, 1, tzinfo=UTC)


def at(offset: int, event: Event | None, topic: str = "clicks", partition: int = 0,
       misrouted: Event | None = None) -> Decoded:
    return Decoded(Record(topic, partition, offset, b"k", b"{}"), event,
                   None if event or misrouted else "invalid", misrouted)


def click(user: str, item: str, minute: int, location: str | None = None) -> ClickEvent:
    return ClickEvent(event_id=f"e{minute}", user_id=user, item_id=item, location=location,
                      ts=T0 + timedelta(minutes=minute))


def plan(*batch: Decoded, recent_items: int = 50) -> dict:
    return json.loads(plan_writes(batch, KEYS, recent_items, ttl_s=3600))


def test_counters_are_summed_per_key_into_one_increment_each():
    doc = plan(at(0, click("ann", "tea", 1)), at(1, click("ann", "tea", 2)),
               at(2, click("bob", "tea", 3)))
    incr = {(key, name): amount for key, name, amount in doc["incr"]}
    assert incr[("p:user:ann", "clicks")] == 2 and incr[("p:item:tea", "clicks")] == 3
    assert incr[("p:stats", "clicks")] == 3
    assert len(doc["incr"]) == len(incr)  # one increment per (key, field)


def test_an_event_redated_to_the_brokers_time_is_counted_beside_its_kind():
    decoded = at(0, click("ann", "tea", 1))
    doc = plan(Decoded(decoded.record, decoded.event, redated=True), at(1, click("bob", "jam", 2)))
    incr = {(key, name): amount for key, name, amount in doc["incr"]}
    assert incr[("p:stats", "redated")] == 1 and incr[("p:stats", "clicks")] == 2


def test_recent_items_are_pushed_in_order_and_trimmed_to_the_setting():
    doc = plan(at(0, click("ann", "tea", 1)), at(1, click("ann", "jam", 2)), recent_items=7)
    assert doc["push"] == [["p:recent:ann", 7, ["tea", "jam"]]]  # LPUSH leaves jam first


def test_a_purchase_counts_units_and_joins_the_purchased_set():
    buy = PurchaseEvent(event_id="b", user_id="ann", order_id="o", item_id="tea", quantity=4,
                        price=2.5, ts=T0)
    doc = plan(at(0, buy, "purchases"))
    assert ["p:item:tea", "units", 4] in doc["incr"]
    assert doc["add"] == [["p:purchased:ann", ["tea"]]]


def test_the_newest_fact_wins_field_by_field_whatever_the_order_in_the_batch():
    doc = plan(at(0, click("ann", "tea", 5, location="Leeds")), at(1, click("ann", "jam", 1)))
    (_, ts_ms, fields), = [op for op in doc["latest"] if op[0] == "p:user:ann"]
    fields = dict(zip(fields[::2], fields[1::2], strict=True))
    # The later click (minute 5) sets the time; the older one without a location erases nothing.
    assert ts_ms == str(int((T0 + timedelta(minutes=5)).timestamp() * 1000))
    assert fields == {"location": "Leeds"}


def test_weather_keeps_a_bounded_history_and_the_latest_report():
    report = WeatherEvent(location="UK", ts=T0, temp_c=5, precip_mm=1, condition="rain")
    doc = plan(at(0, report, "weather"))
    (key, _, member, kept), = doc["zadd"]
    assert (key, kept) == ("p:weather-history:UK", str(WEATHER_HISTORY))
    assert json.loads(member) == {"condition": "rain", "temp_c": 5.0}
    assert doc["latest"][0][0] == "p:weather:UK"


def test_offsets_advance_past_every_record_dead_letters_and_forwards_included():
    profile = UserProfile(user_id="ann", location="Leeds", ts=T0)
    doc = plan(at(3, click("ann", "tea", 1)), at(4, None), at(9, None, misrouted=profile),
               at(0, click("bob", "tea", 1), partition=1))
    assert sorted(doc["set"]) == [["p:offsets:clicks:0", "10"], ["p:offsets:clicks:1", "1"]]
    stats = {name: amount for key, name, amount in doc["incr"] if key == "p:stats"}
    assert (stats["dead_letters"], stats["rekeyed"], stats["clicks"]) == (1, 1, 2)


def test_per_user_and_per_item_keys_expire_but_the_stats_do_not():
    doc = plan(at(0, click("ann", "tea", 1)))
    assert doc["ttl"] == 3600
    assert set(doc["expire"]) == {"p:user:ann", "p:item:tea", "p:recent:ann"}
