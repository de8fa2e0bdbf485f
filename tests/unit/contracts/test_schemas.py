"""The wire contract: what is accepted, what is refused and why, and what a dead letter keeps."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from stream.contracts.codec import InvalidMessage, decode
from stream.contracts.schemas import (
    ClickEvent,
    DeadLetter,
    ItemUpsert,
    PurchaseEvent,
    UserProfile,
    WeatherEvent,
)

CLICK = {"schema_version": 1, "event_id": "e1", "user_id": "17850", "item_id": "85123A",
         "ts": "2010-12-01T08:26:00+00:00", "session_id": "536365", "location": "United Kingdom",
         "device": "desktop"}
PURCHASE = {"schema_version": 1, "event_id": "e2", "user_id": "17850", "order_id": "536365",
            "item_id": "85123A", "quantity": 6, "price": 2.55, "ts": "2010-12-01T08:26:00Z"}
WEATHER = {"schema_version": 1, "location": "United Kingdom", "ts": "2010-12-01T00:00:00Z",
           "temp_c": 2.4, "precip_mm": 1.2, "condition": "rain"}


def raw(message: dict) -> bytes:
    return json.dumps(message).encode()


def reason(model, message) -> str:
    with pytest.raises(InvalidMessage) as caught:
        decode(model, message if isinstance(message, bytes) else raw(message))
    return caught.value.reason


@pytest.mark.parametrize("model, message", [
    (ClickEvent, CLICK), (PurchaseEvent, PURCHASE), (WeatherEvent, WEATHER),
    (ItemUpsert, {"item_id": "85123A", "title": "WHITE HANGING HEART", "category": "decor",
                  "price": 2.55, "in_stock": True, "ts": "2010-12-01T08:26:00Z"}),
    (UserProfile, {"user_id": "17850", "location": "United Kingdom", "ts": 1291191960000}),
])
def test_the_documented_examples_are_accepted_and_survive_a_round_trip(model, message):
    event = decode(model, raw(message))
    assert decode(model, event.to_json()) == event


def test_only_the_required_fields_are_needed():
    minimal = {k: CLICK[k] for k in ("event_id", "user_id", "item_id", "ts")}
    click = decode(ClickEvent, raw(minimal))
    assert click.schema_version == 1 and click.session_id is None and click.device is None


def test_epoch_milliseconds_are_read_as_utc():
    click = decode(ClickEvent, raw({**CLICK, "ts": 1291191960000}))
    assert click.ts == datetime(2010, 12, 1, 8, 26, tzinfo=UTC)


def test_unknown_fields_are_kept_so_producers_can_evolve_first():
    click = decode(ClickEvent, raw({**CLICK, "referrer": "newsletter", "ab": {"arm": 2}}))
    assert click.model_extra == {"referrer": "newsletter", "ab": {"arm": 2}}
    assert json.loads(click.to_json())["referrer"] == "newsletter"


@pytest.mark.parametrize("model, message, expected", [
    (ClickEvent, {**CLICK, "item_id": 85123}, "item_id: Input should be a valid string"),
    (ClickEvent, {k: v for k, v in CLICK.items() if k != "user_id"}, "user_id: Field required"),
    (ClickEvent, {**CLICK, "user_id": ""}, "user_id: String should have at least 1 character"),
    (ClickEvent, {**CLICK, "user_id": "u" * 129}, "user_id: String should have at most 128"),
    (ClickEvent, {**CLICK, "ts": "2010-12-01T08:26:00"}, "ts: Input should have timezone info"),
    (ClickEvent, {**CLICK, "ts": "yesterday"}, "ts: Input should be a valid datetime"),
    (ClickEvent, {**CLICK, "device": "toaster"}, "device: Input should be 'desktop'"),
    (ClickEvent, {**CLICK, "ts": 1e20}, "ts: epoch milliseconds out of range"),
    (ClickEvent, {**CLICK, "ts": "99999999999999999999"}, "ts: epoch milliseconds out of range"),
    (ClickEvent, {**CLICK, "schema_version": 2}, "unknown schema_version 2"),
    (PurchaseEvent, {**PURCHASE, "price": -0.01}, "price: Input should be greater than or equal"),
    (PurchaseEvent, {**PURCHASE, "quantity": -6}, "quantity: Input should be greater than or eq"),
    (PurchaseEvent, {**PURCHASE, "quantity": 1.5}, "quantity: Input should be a valid integer"),
    (WeatherEvent, {**WEATHER, "condition": "hail"}, "condition: Input should be 'clear'"),
    (WeatherEvent, {**WEATHER, "temp_c": 99}, "temp_c: Input should be less than or equal to 60"),
])
def test_a_broken_field_is_named_in_the_reason(model, message, expected):
    assert expected in reason(model, message)


def test_messages_that_are_not_events_at_all_have_plain_reasons():
    assert reason(ClickEvent, b"{not json").startswith("invalid JSON")
    assert reason(ClickEvent, b"[1, 2]") == "invalid ClickEvent: expected a JSON object"
    assert reason(ClickEvent, b"\xff\xfe\x00") .startswith("invalid JSON")
    assert reason(ClickEvent, raw({**CLICK, "pad": "x" * 70_000})).startswith("oversized")
    with pytest.raises(InvalidMessage, match="empty message"):
        decode(ClickEvent, None)


def test_a_dead_letter_keeps_the_exact_bytes_as_text_or_base64():
    text = DeadLetter.wrap(b'{"bad": 1}', topic="shop.clicks", partition=3, offset=42,
                           reason="invalid ClickEvent: ts: Field required", key=b"u1")
    assert (text.payload, text.payload_encoding, text.key) == ('{"bad": 1}', "utf-8", "u1")
    binary = DeadLetter.wrap(b"\xff\x00\x01", topic="shop.clicks", partition=0, offset=7,
                             reason="invalid JSON")
    assert binary.payload_encoding == "base64" and binary.original() == b"\xff\x00\x01"
    on_the_wire = json.loads(text.to_json())  # readable with any JSON parser
    assert on_the_wire["source_topic"] == "shop.clicks" and on_the_wire["offset"] == 42


def test_events_know_their_partition_key():
    assert decode(ClickEvent, raw(CLICK)).key == "17850"
    assert decode(WeatherEvent, raw(WEATHER)).key == "United Kingdom"
