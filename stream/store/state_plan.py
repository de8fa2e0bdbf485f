"""The state writer's planning: a batch of decoded records as the writes it makes, aggregated.

Pure: no Redis client, so every rule (per-key aggregation, newest fact wins, TTLs, offsets) is
unit-tested without a server; :class:`stream.store.state.StateWriter` runs the plan in one script
call inside its transaction.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from typing import Any

from stream.contracts.records import Decoded
from stream.contracts.schemas import (
    ClickEvent,
    Event,
    Impression,
    ItemUpsert,
    PurchaseEvent,
    UserProfile,
    WeatherEvent,
    reason_kind,
)
from stream.store.keys import Keys

# How long a forwarded source record is remembered: longer than the event topics' retention,
# so no copy of it can still arrive after it is forgotten.
FORWARD_MEMORY_S = 8 * 86_400

# Reports kept per location: two years of daily weather.
WEATHER_HISTORY = 730


def plan_writes(fresh: Sequence[Decoded], keys: Keys, recent_items: int, ttl_s: float,
                applied_origins: Collection[str] = ()) -> str:
    """The batch's writes, aggregated per key, as the JSON document the batch script reads.

    A re-keyed copy (``record.origin``) is applied only if no copy of its source record was
    (``applied_origins``, or an earlier copy in this batch); the first records itself as the one
    applied.
    """
    once: list[list[Any]] = []
    applied = set(applied_origins)
    counters: defaultdict[str, Counter[str]] = defaultdict(Counter)
    recent: defaultdict[str, list[str]] = defaultdict(list)
    purchased: defaultdict[str, set[str]] = defaultdict(set)
    latest: dict[str, tuple[int, dict[str, Any]]] = {}
    stats: Counter[str] = Counter()
    history: list[list[str]] = []

    for decoded in fresh:
        event = decoded.event
        if event is None:
            stats["rekeyed" if decoded.misrouted else "dead_letters"] += 1
            if not decoded.misrouted:
                counters[keys.dead_letter_reasons][reason_kind(decoded.reason)] += 1
            continue
        origin = decoded.record.origin
        if origin is not None:
            if origin in applied:
                stats["duplicate_forwards"] += 1
                continue
            applied.add(origin)
            once.append([keys.forwarded(origin), decoded.record.source, FORWARD_MEMORY_S])
        if decoded.redated:  # a producer's clock runs ahead: the operator hears of it
            stats["redated"] += 1
        ts_ms = int(event.ts.timestamp() * 1000)
        if isinstance(event, (ClickEvent, PurchaseEvent)):
            kind = "clicks" if isinstance(event, ClickEvent) else "purchases"
            stats[kind] += 1
            counters[keys.user(event.user_id)][kind] += 1
            counters[keys.item(event.item_id)][kind] += 1
            recent[event.user_id].append(event.item_id)
            # The user's last-seen time (ts_ms) and latest location, newest fact wins.
            _keep_latest(latest, keys.user(event.user_id), ts_ms,
                         _fields(event, "location"))
            if isinstance(event, PurchaseEvent):
                counters[keys.item(event.item_id)]["units"] += event.quantity
                purchased[event.user_id].add(event.item_id)
        elif isinstance(event, WeatherEvent):
            stats["weather"] += 1
            # The history lets learners join each interaction with the weather of its time.
            history.append([keys.weather_history(event.location), str(ts_ms), json.dumps(
                {"condition": event.condition.value, "temp_c": event.temp_c}),
                str(WEATHER_HISTORY)])
            _keep_latest(latest, keys.weather(event.location), ts_ms, {
                "temp_c": event.temp_c, "precip_mm": event.precip_mm,
                "condition": event.condition.value})
        elif isinstance(event, ItemUpsert):
            stats["items"] += 1
            _keep_latest(latest, keys.item_meta(event.item_id), ts_ms, _fields(
                event, "title", "category", "price", in_stock=int(event.in_stock)))
        elif isinstance(event, Impression):
            stats["impressions"] += 1  # labels only: the learners join them with clicks
        elif isinstance(event, UserProfile):
            stats["users"] += 1
            _keep_latest(latest, keys.profile(event.user_id), ts_ms,
                         _fields(event, "location", "segment"))
    counters[keys.stats].update(stats)

    return json.dumps({
        "incr": [[key, name, amount] for key, fields in counters.items()
                 for name, amount in fields.items()],
        # LPUSH pushes left to right, so the newest ends up first.
        "push": [[keys.recent(user), recent_items, items]
                 for user, items in recent.items()],
        "add": [[keys.purchased(user), sorted(items)] for user, items in purchased.items()],
        "latest": [[key, str(ts_ms), [str(x) for pair in fields.items() for x in pair]]
                   for key, (ts_ms, fields) in latest.items()],
        "zadd": history,
        "once": once,
        "expire": sorted({key for key in counters
                          if key not in (keys.stats, keys.dead_letter_reasons)}
                         | {keys.recent(u) for u in recent}
                         | {keys.purchased(u) for u in purchased}),
        "ttl": int(ttl_s),
        "set": [[keys.offset(topic, partition), str(offset)]
                for (topic, partition), offset in _next_offsets(fresh).items()],
    }, separators=(",", ":"))


def _keep_latest(latest: dict[str, tuple[int, dict[str, Any]]], key: str, ts_ms: int,
                 fields: dict[str, Any]) -> None:
    """Within a batch, keep the newest value of each field per key (a later offset wins a tie):
    a newer fact without a location must not erase an older one's."""
    if key not in latest:
        latest[key] = (ts_ms, fields)
    elif latest[key][0] <= ts_ms:
        latest[key] = (ts_ms, {**latest[key][1], **fields})
    else:
        latest[key] = (latest[key][0], {**fields, **latest[key][1]})


def _fields(event: Event, *names: str, **extra: Any) -> dict[str, Any]:
    values = {name: getattr(event, name) for name in names}
    values.update(extra)
    return {k: v for k, v in values.items() if v is not None}


def _next_offsets(fresh: Sequence[Decoded]) -> dict[tuple[str, int], int]:
    result: dict[tuple[str, int], int] = {}
    for d in fresh:
        tp = (d.record.topic, d.record.partition)
        result[tp] = max(result.get(tp, 0), d.record.offset + 1)
    return result
