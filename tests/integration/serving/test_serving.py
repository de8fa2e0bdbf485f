"""Recommendations through the real stack, asked and read with kcat: the contract is plain JSON
on Kafka (docs/contract.md), no recstream code on the asking side."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import uuid
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import Producer

from stream.contracts.schemas import Impression
from stream.settings import Settings
from stream.store.reads import StateReader
from stream.transport.partitioner import partition_of
from tests.integration.conftest import wait_until
from tests.integration.traffic import learned, send_raw

pytestmark = pytest.mark.integration

KCAT = shutil.which("kcat")


def kcat() -> str:
    assert KCAT, "kcat is missing: deploy/local/setup.sh installs it (apt-get install kcat)"
    return KCAT


def ask(settings: Settings, user_id: str, timeout_s: float = 30, raw: bytes | None = None,
        **fields) -> dict:
    """Send a request with kcat (Kafka's default partitioner, as every producer of user-keyed
    messages must use) and read its reply from the reply topic."""
    request_id = fields.pop("request_id", uuid.uuid4().hex)
    body = raw if raw is not None else json.dumps({
        "schema_version": 1, "request_id": request_id, "user_id": user_id,
        "reply_to": settings.topics.responses, **fields}).encode()
    subprocess.run([kcat(), "-P", "-b", settings.kafka.bootstrap, "-t", settings.topics.requests,
                    "-k", user_id, "-X", "partitioner=murmur2_random"],
                   input=body + b"\n", check=True, timeout=30)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for key, value in read_all(settings, settings.topics.responses):
            if key == request_id:
                return json.loads(value)
        time.sleep(0.2)
    raise AssertionError(f"no reply to {request_id} within {timeout_s:g}s")


def read_all(settings: Settings, topic: str) -> list[tuple[str, str]]:
    """Every (key, value) on ``topic`` so far, read with kcat."""
    out = subprocess.run([kcat(), "-C", "-b", settings.kafka.bootstrap, "-t", topic,
                          "-o", "beginning", "-e", "-q", "-K", "\t"],
                         capture_output=True, check=True, timeout=30).stdout
    return [(key, value) for key, _, value in map(lambda line: line.partition("\t"),
                                                   out.decode().splitlines())]


def click(user: str, item: str, minute: int, **extra) -> bytes:
    return json.dumps({"schema_version": 1, "event_id": uuid.uuid4().hex, "user_id": user,
                       "item_id": item, "ts": f"2011-03-01T09:{minute:02d}:00Z",
                       **extra}).encode()


def purchase(user: str, item: str, minute: int, order: str, **extra) -> bytes:
    return json.dumps({"schema_version": 1, "event_id": uuid.uuid4().hex, "user_id": user,
                       "item_id": item, "order_id": order, "quantity": 1, "price": 2.5,
                       "ts": f"2011-03-01T09:{minute:02d}:00Z", **extra}).encode()


def items_of(reply: dict) -> list[str]:
    assert reply["error"] is None, reply
    return [item["item_id"] for item in reply["items"]]


def test_a_users_events_change_their_next_reply_and_purchases_never_come_back(
        settings, start_worker):
    worker = start_worker(settings)
    send_raw(settings, [(settings.topics.clicks, b"ann", click("ann", item, m))
                        for m, item in enumerate(["tea", "jam", "tea"])])
    wait_until(lambda: learned(settings) >= 3, 60, "ann's clicks learned", workers=[worker])
    first = ask(settings, "ann", k=5)
    assert items_of(first)[:2] == ["tea", "jam"] and first["items"][0]["source"] == "repeat"
    assert set(first) == {"schema_version", "request_id", "items", "model_versions",
                          "timings_ms", "degraded", "error"}

    send_raw(settings, [(settings.topics.purchases, b"ann", purchase("ann", "tea", 10, "o1")),
                        (settings.topics.clicks, b"ann", click("ann", "scarf", 11)),
                        (settings.topics.clicks, b"ann", click("ann", "scarf", 12))])
    wait_until(lambda: learned(settings) >= 6, 60, "ann's purchase and clicks learned",
               workers=[worker])
    then = items_of(ask(settings, "ann", k=5))
    assert "tea" not in then  # bought: never recommended again
    assert "scarf" in then and then.index("scarf") < then.index("jam")


def test_a_bad_request_gets_an_error_reply_and_a_dead_letter(settings, start_worker):
    worker = start_worker(settings)
    bad = json.dumps({"schema_version": 1, "request_id": "bad-1", "user_id": "ann", "k": 0,
                      "reply_to": settings.topics.responses}).encode()
    reply = ask(settings, "ann", raw=bad, request_id="bad-1")
    assert reply["items"] == [] and reply["error"]["code"] == "invalid_request"
    assert "k:" in reply["error"]["message"]
    reader = StateReader(settings.redis)
    wait_until(lambda: reader.stats().get("dead_letters") == 1, 30, "the dead letter counted",
               workers=[worker])
    assert reader.dead_letter_reasons() == {"invalid RecommendationRequest": 1}


def test_an_unknown_user_gets_what_sells_at_their_location(settings, start_worker):
    worker = start_worker(settings)
    events = []
    for n in range(12):  # Paris buys berets, London umbrellas: each shop's own trend
        for city, item in (("Paris", "beret"), ("London", "umbrella")):
            user = f"{city}-{n}"
            events.append((settings.topics.purchases, user.encode(),
                           purchase(user, item, n, f"{user}-o", location=city)))
    send_raw(settings, events)
    wait_until(lambda: learned(settings) >= 24, 60, "the purchases learned", workers=[worker])

    def first_for(city: str) -> str | None:
        items = items_of(ask(settings, f"new-in-{city}-{uuid.uuid4().hex[:6]}",
                             context={"location": city}))
        return items[0] if items else None

    # Trending comes to every worker by broadcast, within a publish interval or so.
    wait_until(lambda: first_for("Paris") == "beret" and first_for("London") == "umbrella",
               60, "each newcomer's city's trend first", interval_s=1.0, workers=[worker])
    reply = ask(settings, "new-in-Paris-x", context={"location": "Paris"})
    assert "no_history" in reply["degraded"]


def test_an_unknown_user_in_the_rain_gets_what_sells_there_in_the_rain(settings, start_worker):
    """London bought sun hats through eight clear hours, then umbrellas through three rainy
    ones: by the place alone the hats lead, so a newcomer's list of umbrellas is the weather's
    (the shards' weather gates find that the weather moves demand here)."""
    worker = start_worker(settings)
    hours = {hour: "clear" if hour < 8 else "rain" for hour in range(11)}
    send_raw(settings, [(settings.topics.weather, b"London", json.dumps({
        "schema_version": 1, "location": "London", "temp_c": 12.0, "precip_mm": 0.0,
        "condition": condition, "ts": f"2011-03-01T{hour:02d}:00:00Z"}).encode())
        for hour, condition in hours.items()])
    wait_until(lambda: int(StateReader(settings.redis).stats().get("weather", 0)) >= len(hours),
               30, "the weather reports stored", workers=[worker])
    purchases = []
    for n in range(1_600):
        hour, second = divmod(n * 11 * 3600 // 1_600, 3600)
        item = f"hat{n % 30}" if hours[hour] == "clear" else f"umbrella{n % 30}"
        purchases.append((settings.topics.purchases, f"w{n}".encode(), json.dumps({
            "schema_version": 1, "event_id": f"w{n}", "user_id": f"w{n}", "item_id": item,
            "order_id": f"o{n}", "quantity": 1, "price": 2.5, "location": "London",
            "ts": f"2011-03-01T{hour:02d}:{second // 60:02d}:{second % 60:02d}Z"}).encode()))
    send_raw(settings, purchases)
    wait_until(lambda: learned(settings) >= len(purchases), 90, "the purchases learned",
               workers=[worker])

    def newcomers_top() -> list[str]:
        reply = ask(settings, f"new-{uuid.uuid4().hex[:6]}", k=5, context={"location": "London"})
        return items_of(reply)

    # Trending comes to every worker by broadcast, within a publish interval or so.
    wait_until(lambda: (top := newcomers_top()) and all(i.startswith("umbrella") for i in top),
               60, "umbrellas first for a newcomer in the London rain", interval_s=1.0,
               workers=[worker])


def test_a_click_dated_ahead_of_the_broker_does_not_date_the_next_impression_ahead(
        settings, start_worker):
    """A producer whose clock runs 50 minutes ahead is within the hour the ingest allows; its
    click is learned at the broker's time, so the shard's clock (which dates what it shows, and
    so which clicks count as answers to it) stays with the world's."""
    worker = start_worker(settings)
    now = datetime.now(UTC)
    send_raw(settings, [(settings.topics.clicks, b"cal", json.dumps({
        "schema_version": 1, "event_id": f"cal-{n}", "user_id": "cal", "item_id": item,
        "ts": ts.isoformat()}).encode())
        for n, (item, ts) in enumerate([("tea", now), ("jam", now + timedelta(minutes=50))])])
    wait_until(lambda: learned(settings) >= 2, 60, "cal's clicks learned", workers=[worker])
    request_id = uuid.uuid4().hex
    assert set(items_of(ask(settings, "cal", request_id=request_id))) >= {"tea", "jam"}
    impression = next(Impression.model_validate_json(value) for key, value in read_all(
        settings, settings.topics.impressions) if json.loads(value)["request_id"] == request_id)
    assert impression.ts < datetime.now(UTC) + timedelta(minutes=1)
    assert StateReader(settings.redis).stats()["redated"] == 1  # the operator hears of it


def test_a_new_catalogue_item_is_shown_at_the_tenth_place_before_anyone_bought_it(
        settings, start_worker):
    worker = start_worker(settings)
    # Twelve items bought by sixty users each: every shard has seen each of them enough times
    # that none is new, and trending fills a list of ten without the newcomer.
    events = [(settings.topics.purchases, f"u{n}".encode(),
               purchase(f"u{n}", f"old{i}", i, f"u{n}-{i}")) for n in range(60) for i in range(12)]
    send_raw(settings, events)
    wait_until(lambda: learned(settings) >= len(events), 90, "the purchases learned",
               workers=[worker])
    kite = json.dumps({"schema_version": 1, "item_id": "kite", "title": "Kite", "price": 9.0,
                       "ts": "2011-03-01T09:30:00Z"}).encode()
    send_raw(settings, [(settings.topics.items, b"kite", kite)])

    def tenth_for_a_newcomer() -> tuple[str, str] | None:
        reply = ask(settings, f"new-{uuid.uuid4().hex[:6]}", k=10)
        items = reply["items"]
        return (items[9]["item_id"], items[9]["source"]) if len(items) == 10 else None

    # The catalogue reaches every worker's shards by broadcast, within a batch or so.
    wait_until(lambda: tenth_for_a_newcomer() == ("kite", "explore"), 60,
               "the new item at the tenth place", interval_s=1.0, workers=[worker])


def test_a_click_on_another_partition_than_its_keys_still_reaches_the_users_shard(
        settings, start_worker):
    worker = start_worker(settings)
    # librdkafka's default partitioner (CRC32) puts some keys elsewhere than Kafka's (murmur2).
    n = settings.kafka.partitions
    assert zlib.crc32(b"zoe-1") % n != partition_of("zoe-1", n)
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap,
                         "partitioner": "consistent"})
    for minute in range(3):
        producer.produce(settings.topics.clicks, click("zoe-1", "kite", minute), b"zoe-1")
    assert producer.flush(30) == 0
    wait_until(lambda: learned(settings) >= 3, 60, "zoe's clicks learned", workers=[worker])
    assert items_of(ask(settings, "zoe-1"))[0] == "kite"
    assert StateReader(settings.redis).stats()["rekeyed"] == 3  # each forwarded once


def test_a_worker_killed_while_requests_stream_leaves_none_unanswered(settings, start_worker):
    """Its partitions move to the survivor, which answers what the dead one left: every request
    gets a reply (with items, or a deadline error) before its client gives up."""
    from stream.transport.client import RecommendationClient

    first, second = start_worker(settings), start_worker(settings)
    wait_until(lambda: all("[INFO] assigned " in w.output() for w in (first, second)), 60,
               "both workers to hold partitions", workers=[first, second])
    users = [f"u{n}" for n in range(40)]  # on every partition
    send_raw(settings, [(settings.topics.clicks, user.encode(), click(user, "tea", 1))
                        for user in users])
    wait_until(lambda: learned(settings) >= len(users), 90, "every user's click learned",
               workers=[first, second])
    futures = []
    # Longer than the group's session timeout (10 s) and a restore: the survivor answers.
    with RecommendationClient(settings, timeout_s=60) as client:
        for n in range(150):
            futures.append(client.submit(users[n % len(users)], 5))
            if n == 50:
                first.stop(signal.SIGKILL)
            time.sleep(0.05)
        replies = [future.result(timeout=90) for future in futures]
    assert second.alive
    assert all(r.error is None or r.error.code == "deadline_exceeded" for r in replies), \
        {r.error.code for r in replies if r.error}
    assert sum(r.error is None for r in replies) > 100
