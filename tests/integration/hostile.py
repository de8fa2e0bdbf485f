"""Hostile records, seeded: what any producer could write on the input topics.

Ids with key separators, glob characters, unicode, control characters and extreme lengths;
huge and non-finite numbers; timestamps a century ahead and before the epoch; duplicates;
wrong and missing keys; payloads at and over the size limit; bytes that are not JSON at all.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from stream.settings import Settings

IDS = ["alice", "alice:recent", "a:b:c", "*", "?[x]", "{tag}", "ünïcødé", "用户", "🙂",
       "tab\there", "new\nline", "nul\x00byte", "x" * 128, "x" * 129, "", " ", "rs:user:bob",
       "../../etc", "%s%n", "null"]
NUMBERS = [0, -1, 1.5, 1e9, 1e12, 1e308, 10**30, "NaN", "Infinity", True, None, "3"]
NOW = datetime.now(UTC)
TIMES = [NOW.isoformat(), (NOW + timedelta(minutes=30)).isoformat(),
         "2100-01-01T00:00:00+00:00", "1900-01-01T00:00:00+00:00", "1970-01-01T00:00:00Z",
         0, -1, 4102444800000, 10**18, "2011-13-45T00:00:00Z", "yesterday", None]


def hostile_records(settings: Settings, n: int, seed: int = 7
                    ) -> list[tuple[str, bytes | None, bytes | None]]:
    """``n`` records for the input topics, as (topic, key, value)."""
    rng = random.Random(seed)
    topics = settings.topics
    records: list[tuple[str, bytes | None, bytes | None]] = []
    limit = settings.worker.max_message_bytes
    while len(records) < n:
        user, item = rng.choice(IDS), rng.choice(IDS)
        ts = rng.choice(TIMES)
        kind = rng.randrange(9)
        if kind <= 2:
            doc = {"schema_version": 1, "event_id": f"h{len(records)}", "user_id": user,
                   "item_id": item, "ts": ts}
            records.append((topics.clicks, _key(rng, user), json.dumps(doc).encode()))
        elif kind == 3:
            doc = {"schema_version": 1, "event_id": f"h{len(records)}", "user_id": user,
                   "order_id": rng.choice(IDS), "item_id": item, "ts": ts,
                   "quantity": rng.choice(NUMBERS), "price": rng.choice(NUMBERS)}
            records.append((topics.purchases, _key(rng, user), _json(doc)))
        elif kind == 4:
            location = rng.choice(IDS)
            doc = {"schema_version": 1, "location": location, "ts": ts,
                   "temp_c": rng.choice(NUMBERS), "precip_mm": rng.choice(NUMBERS),
                   "condition": rng.choice(["rain", "hail", "", None])}
            records.append((topics.weather, _key(rng, location), _json(doc)))
        elif kind == 5:  # compacted: the broker itself refuses a record without a key
            doc = {"schema_version": 1, "item_id": item, "ts": ts, "title": rng.choice(IDS),
                   "category": rng.choice(IDS), "price": rng.choice(NUMBERS)}
            records.append((topics.items, _key(rng, item) or b"k", _json(doc)))
        elif kind == 6:  # at the size limit and just past it, the padding an extra field
            doc = {"schema_version": 1, "event_id": f"h{len(records)}", "user_id": "big",
                   "item_id": "i1", "ts": NOW.isoformat(), "pad": ""}
            size = len(json.dumps(doc).encode())
            doc["pad"] = "p" * (limit - size + rng.choice([0, 1, 5 * limit]))
            records.append((topics.clicks, b"big", json.dumps(doc).encode()))
        elif kind == 7:  # not JSON, not an object, nested too deep, null
            value = rng.choice([b"\xff\xfe\x00", b"[]", b"[" * 5000 + b"]" * 5000, None,
                                b'{"schema_version": 99}', b"{" * 20])
            topic = rng.choice(list(topics.events))
            key = _key(rng, user) or (b"k" if topic in (topics.items, topics.users) else None)
            records.append((topic, key, value))
        else:  # an exact duplicate of an earlier record
            records.append(records[rng.randrange(len(records))] if records else
                           (topics.clicks, b"alice", b"{}"))
    return records


def _key(rng: random.Random, wanted: str) -> bytes | None:
    """The right key mostly; sometimes none, or another id's."""
    roll = rng.random()
    if roll < 0.1:
        return None
    if roll < 0.2:
        return rng.choice(IDS).encode("utf-8", "surrogatepass")
    return wanted.encode("utf-8", "surrogatepass")


def _json(doc: dict) -> bytes:
    """JSON as a careless producer writes it: NaN and Infinity included."""
    return json.dumps(doc, allow_nan=True).encode()
