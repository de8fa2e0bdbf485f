"""Ingested state in Redis, written effectively once (DESIGN decision 3).

Every batch of records is applied in one MULTI/EXEC transaction that also advances, per source
partition, the next offset it covers. Before writing, the batch WATCHes those offset keys and drops
records below them, so a record Kafka delivers twice (after a crash, before the consumer committed)
changes nothing the second time, and a stale owner racing a new one after a rebalance loses its
transaction instead of double-writing. Writes are aggregated per key within a batch (one HINCRBY
per counter, one LPUSH per user) and travel to Redis as one script call per batch, never a round
trip per event (DESIGN decision 9).

Keys (``p`` is ``settings.redis.key_prefix``):
  p:u:<user>            hash: clicks, purchases; ts_ms (last seen) and location, newest wins
  p:u:<user>:recent     list: newest first, trimmed to ``recent_items``
  p:u:<user>:purchased  set of item ids
  p:u:<user>:profile    hash: the latest UserProfile (ts_ms guards order)
  p:i:<item>            hash: clicks, purchases, units
  p:i:<item>:meta       hash: the latest ItemUpsert (ts_ms guards order)
  p:w:<location>        hash: the latest weather (ts_ms guards order)
  p:w:<location>:history  sorted set by ts_ms: the last WEATHER_HISTORY reports
  p:u:<user>:emb, p:i:<item>:emb   packed float32 vectors (stream/learning.py)
  p:trending:<scope>    sorted set: item -> log2 of its decayed count at time 0, so the order
                        holds at any time (value at t: 2 ** (score - t / half-life)); scopes
                        "global", "location=<l>", "condition=<c>", "location,condition=<l>|<c>"
  p:learning:<shard>, p:snapshot:<shard>   a user shard's figures and signed snapshot
  p:learning:items:<shard>, p:snapshot:items:<shard>   the same for an item shard
  p:offsets:<topic>:<partition>  the next offset not yet applied
  p:stats               hash: events applied per kind, dead letters, re-keyed (forwarded)
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import WatchError

from stream.contracts.schemas import (
    ClickEvent,
    Event,
    Impression,
    ItemUpsert,
    PurchaseEvent,
    UserProfile,
    WeatherEvent,
)

# Applies a whole batch of aggregated writes in one call: redis-py spends ~25 us per pipelined
# command on packing and parsing, far more than Redis spends executing it, so a batch travels as
# one JSON document. Facts of compacted/weather topics ("latest") are set only when their
# timestamp is not older than the stored one: they may be replayed or arrive late, and the latest
# fact must win (Feast's Redis store does the same). Every value arrives as a string.
_APPLY_BATCH = """
local ops = cjson.decode(ARGV[1])
for _, op in ipairs(ops.incr) do redis.call('HINCRBY', op[1], op[2], op[3]) end
for _, op in ipairs(ops.push) do
  redis.call('LPUSH', op[1], unpack(op[3]))
  redis.call('LTRIM', op[1], 0, tonumber(op[2]) - 1)
end
for _, op in ipairs(ops.add) do redis.call('SADD', op[1], unpack(op[2])) end
for _, op in ipairs(ops.latest) do
  local current = redis.call('HGET', op[1], 'ts_ms')
  if (not current) or tonumber(current) <= tonumber(op[2]) then
    redis.call('HSET', op[1], 'ts_ms', op[2], unpack(op[3]))
  end
end
for _, op in ipairs(ops.zadd) do
  redis.call('ZADD', op[1], op[2], op[3])
  redis.call('ZREMRANGEBYRANK', op[1], 0, -tonumber(op[4]) - 1)
end
for _, op in ipairs(ops.set) do redis.call('SET', op[1], op[2]) end
for _, key in ipairs(ops.expire) do redis.call('EXPIRE', key, ops.ttl) end
return #ops.incr
"""


# Reports kept per location: two years of daily weather.
WEATHER_HISTORY = 730


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka message as the worker received it, before decoding."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Decoded:
    """A record and what became of it: an event to apply, the reason it is a dead letter, or a
    valid event that arrived under the wrong key (``misrouted``) and is forwarded, not applied."""

    record: Record
    event: Event | None
    reason: str | None = None
    misrouted: Event | None = None


class Keys:
    """Key names in one place, for the writer here and the readers (inspect, serving)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def user(self, user_id: str) -> str:
        return f"{self.prefix}:u:{user_id}"

    def recent(self, user_id: str) -> str:
        return f"{self.prefix}:u:{user_id}:recent"

    def purchased(self, user_id: str) -> str:
        return f"{self.prefix}:u:{user_id}:purchased"

    def profile(self, user_id: str) -> str:
        return f"{self.prefix}:u:{user_id}:profile"

    def item(self, item_id: str) -> str:
        return f"{self.prefix}:i:{item_id}"

    def item_meta(self, item_id: str) -> str:
        return f"{self.prefix}:i:{item_id}:meta"

    def weather(self, location: str) -> str:
        return f"{self.prefix}:w:{location}"

    def weather_history(self, location: str) -> str:
        return f"{self.prefix}:w:{location}:history"

    def user_embedding(self, user_id: str) -> str:
        return f"{self.prefix}:u:{user_id}:emb"

    def trending(self, scope: str) -> str:
        return f"{self.prefix}:trending:{scope}"

    def item_embedding(self, item_id: str) -> str:
        return f"{self.prefix}:i:{item_id}:emb"

    def learning(self, shard: int) -> str:
        return f"{self.prefix}:learning:{shard}"

    def snapshot(self, shard: int) -> str:
        return f"{self.prefix}:snapshot:{shard}"

    def item_learning(self, shard: int) -> str:
        return f"{self.prefix}:learning:items:{shard}"

    def item_snapshot(self, shard: int) -> str:
        return f"{self.prefix}:snapshot:items:{shard}"

    def offset(self, topic: str, partition: int) -> str:
        return f"{self.prefix}:offsets:{topic}:{partition}"

    @property
    def stats(self) -> str:
        return f"{self.prefix}:stats"


BeforeCommit = Callable[[list[Decoded]], Awaitable[None]]


class StateWriter:
    """Applies decoded batches to Redis exactly once per source offset."""

    def __init__(self, client: Redis, prefix: str, recent_items: int = 50,
                 ttl_s: float = 90 * 86400.0) -> None:
        self.client = client
        self.keys = Keys(prefix)
        self.recent_items = recent_items
        # Per-user and per-item keys live this long after their last write: bounded state.
        self.ttl_s = ttl_s
        self._apply_batch = client.register_script(_APPLY_BATCH)

    async def stored_offsets(self, partitions: Sequence[tuple[str, int]]
                             ) -> dict[tuple[str, int], int]:
        """The next offset to read per partition, for those that have state."""
        if not partitions:
            return {}
        values = await self.client.mget([self.keys.offset(t, p) for t, p in partitions])
        return {tp: int(v) for tp, v in zip(partitions, values, strict=True) if v is not None}

    async def apply(self, batch: Sequence[Decoded], before_commit: BeforeCommit) -> list[Decoded]:
        """Apply the records not applied before; return them.

        ``before_commit`` receives those fresh records before the transaction commits (the worker
        publishes dead letters there), so nothing is marked done before its side effects are.
        """
        if not batch:
            return []
        partitions = sorted({(d.record.topic, d.record.partition) for d in batch})
        offset_keys = [self.keys.offset(t, p) for t, p in partitions]
        while True:
            async with self.client.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(*offset_keys)
                    stored = await pipe.mget(offset_keys)
                    applied = {tp: int(v) if v is not None else 0
                               for tp, v in zip(partitions, stored, strict=True)}
                    fresh = [d for d in batch
                             if d.record.offset >= applied[(d.record.topic, d.record.partition)]]
                    if not fresh:
                        return []
                    await before_commit(fresh)
                    pipe.multi()
                    await self._apply_batch(keys=[], args=[self._writes(fresh)], client=pipe)
                    await pipe.execute()
                    return fresh
                except WatchError:
                    continue  # someone else advanced a partition of ours: re-read and retry

    def _writes(self, fresh: Sequence[Decoded]) -> str:
        """The batch's writes, aggregated per key, as the JSON document _APPLY_BATCH reads."""
        keys = self.keys
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
                continue
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
            "push": [[keys.recent(user), self.recent_items, items]
                     for user, items in recent.items()],
            "add": [[keys.purchased(user), sorted(items)] for user, items in purchased.items()],
            "latest": [[key, str(ts_ms), [str(x) for pair in fields.items() for x in pair]]
                       for key, (ts_ms, fields) in latest.items()],
            "zadd": history,
            "expire": sorted({key for key in counters if key != keys.stats}
                             | {keys.recent(u) for u in recent}
                             | {keys.purchased(u) for u in purchased}),
            "ttl": int(self.ttl_s),
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
