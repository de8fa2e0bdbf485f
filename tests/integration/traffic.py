"""Mixed shop traffic with a share of malformed messages, and what the state must say after it."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import redis
from confluent_kafka import Producer

from stream.settings import Settings
from stream.store.keys import Keys
from stream.store.reads import StateReader

BASE_TS = datetime(2011, 3, 1, 9, 0, tzinfo=UTC)

def _key_field(message: dict) -> str:
    return "item_id" if "item_id" in message else "location"


def _out_of_range(message: dict) -> dict:
    if "price" in message:
        return {"price": -1.0}
    if "precip_mm" in message:
        return {"precip_mm": -3.0}
    return {"device": "toaster"}


# One of each way a message can be unusable, cycled through; each breaks a field the message's
# own contract has (an unknown field is allowed, so breaking a foreign one would be no error).
MALFORMED = [
    ("bad JSON", lambda s: b'{"schema_version":1,"event_id":'),
    ("wrong type", lambda s: json.dumps({**s, _key_field(s): 42}).encode()),
    ("missing field", lambda s: json.dumps({k: v for k, v in s.items() if k != "ts"}).encode()),
    ("oversized", lambda s: json.dumps({**s, "padding": "x" * 70_000}).encode()),
    ("unknown schema version", lambda s: json.dumps({**s, "schema_version": 99}).encode()),
    ("not UTF-8", lambda s: b"\xff\xfe" + json.dumps(s).encode()),
    ("naive timestamp", lambda s: json.dumps({**s, "ts": "2011-03-01T09:00:00"}).encode()),
    ("out of range", lambda s: json.dumps({**s, **_out_of_range(s)}).encode()),
    ("not an object", lambda s: b"[1, 2, 3]"),
]


@dataclass
class Traffic:
    """Messages as (topic, key, value) and the counters the state must hold afterwards."""

    messages: list[tuple[str, bytes, bytes]] = field(default_factory=list)
    malformed: list[bytes] = field(default_factory=list)
    item_clicks: Counter[str] = field(default_factory=Counter)
    item_purchases: Counter[str] = field(default_factory=Counter)
    item_units: Counter[str] = field(default_factory=Counter)
    user_clicks: Counter[str] = field(default_factory=Counter)
    user_purchases: Counter[str] = field(default_factory=Counter)
    purchased: dict[str, set[str]] = field(default_factory=dict)
    weather: dict[str, dict[str, object]] = field(default_factory=dict)

    @property
    def valid_count(self) -> int:
        return len(self.messages) - len(self.malformed)


def mixed_traffic(settings: Settings, n: int, malformed_every: int = 100, seed: int = 1,
                  users: int = 300, items: int = 200, start: datetime = BASE_TS) -> Traffic:
    """``n`` messages: clicks, purchases and weather; every ``malformed_every``-th is broken."""
    rng = random.Random(seed)
    traffic = Traffic()
    for i in range(n):
        user, item = f"u{rng.randrange(users)}", f"i{rng.randrange(items)}"
        ts = (start + timedelta(seconds=i)).isoformat()
        roll = rng.random()
        if roll < 0.02:
            location = rng.choice(["United Kingdom", "France"])
            message = {"schema_version": 1, "location": location, "ts": ts,
                       "temp_c": round(rng.uniform(-5, 30), 1), "precip_mm": 0.0,
                       "condition": rng.choice(["clear", "rain", "cloudy"])}
            topic, key = settings.topics.weather, location
        elif roll < 0.80:
            message = {"schema_version": 1, "event_id": f"c{i}", "user_id": user,
                       "item_id": item, "ts": ts, "device": "mobile"}
            topic, key = settings.topics.clicks, user
        else:
            message = {"schema_version": 1, "event_id": f"p{i}", "user_id": user,
                       "order_id": f"o{i}", "item_id": item, "quantity": rng.randint(1, 3),
                       "price": 2.5, "ts": ts, "location": "United Kingdom"}
            topic, key = settings.topics.purchases, user
        if i % malformed_every == malformed_every - 1:
            _, breaker = MALFORMED[(i // malformed_every) % len(MALFORMED)]
            value = breaker(message)
            traffic.malformed.append(value)
        else:
            value = json.dumps(message).encode()
            _expect(traffic, topic, settings, message)
        traffic.messages.append((topic, key.encode(), value))
    return traffic


def _expect(traffic: Traffic, topic: str, settings: Settings, message: dict) -> None:
    if topic == settings.topics.clicks:
        traffic.item_clicks[message["item_id"]] += 1
        traffic.user_clicks[message["user_id"]] += 1
    elif topic == settings.topics.purchases:
        traffic.item_purchases[message["item_id"]] += 1
        traffic.item_units[message["item_id"]] += message["quantity"]
        traffic.user_purchases[message["user_id"]] += 1
        traffic.purchased.setdefault(message["user_id"], set()).add(message["item_id"])
    else:
        traffic.weather[message["location"]] = message  # later messages have later ts


def send_raw(settings: Settings, messages: list[tuple[str, bytes | None, bytes]]) -> None:
    """Send as any Kafka client would (no SDK, no validation), e.g. kcat."""
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap, "linger.ms": 5,
                         # Kafka's default partitioner, as every producer of user events must use.
                         "partitioner": "murmur2_random",
                         "message.max.bytes": 2_000_000})
    refused: list[str] = []

    def delivered(error: object, message: object) -> None:
        if error is not None:
            refused.append(str(error))

    for topic, key, value in messages:
        producer.produce(topic, value, key, on_delivery=delivered)
        producer.poll(0)
    assert producer.flush(30) == 0, "the broker did not take every test message"
    assert not refused, f"the broker refused {len(refused)} messages: {refused[:3]}"


def applied_events(client: redis.Redis, settings: Settings) -> int:
    stats = client.hgetall(Keys(settings.redis.key_prefix).stats)
    return sum(int(stats.get(k, 0)) for k in ("clicks", "purchases", "weather"))


def learned(settings: Settings) -> int:
    """Interactions learned over every user shard."""
    return StateReader(settings.redis).learned(range(settings.kafka.partitions))


def steps_applied(settings: Settings) -> int:
    """Item steps applied over every item shard: one per interaction, by its item's owner."""
    return StateReader(settings.redis).steps_applied(range(settings.kafka.partitions))


def assert_state_matches(client: redis.Redis, settings: Settings, traffic: Traffic) -> None:
    keys = Keys(settings.redis.key_prefix)
    for item in set(traffic.item_clicks) | set(traffic.item_purchases):
        stored = client.hgetall(keys.item(item))
        assert int(stored.get("clicks", 0)) == traffic.item_clicks[item], item
        assert int(stored.get("purchases", 0)) == traffic.item_purchases[item], item
        assert int(stored.get("units", 0)) == traffic.item_units[item], item
    for user in set(traffic.user_clicks) | set(traffic.user_purchases):
        stored = client.hgetall(keys.user(user))
        assert int(stored.get("clicks", 0)) == traffic.user_clicks[user], user
        assert int(stored.get("purchases", 0)) == traffic.user_purchases[user], user
        assert client.smembers(keys.purchased(user)) == traffic.purchased.get(user, set())
    for location, message in traffic.weather.items():
        stored = client.hgetall(keys.weather(location))
        assert stored["condition"] == message["condition"]
        assert float(stored["temp_c"]) == message["temp_c"]
    stats = client.hgetall(keys.stats)
    assert applied_events(client, settings) == traffic.valid_count
    assert int(stats["dead_letters"]) == len(traffic.malformed)
