"""Ingested state in Redis, written effectively once (DESIGN decision 3).

Every batch of records is applied in one MULTI/EXEC transaction that also advances, per source
partition, the next offset it covers. Before writing, the batch WATCHes those offset keys and drops
records below them, so a record Kafka delivers twice (after a crash, before the consumer committed)
changes nothing the second time, and a stale owner racing a new one after a rebalance loses its
transaction instead of double-writing. Writes are aggregated per key within a batch (one HINCRBY
per counter, one LPUSH per user) and travel to Redis as one script call per batch, never a round
trip per event (DESIGN decision 9).

Key names are in :mod:`stream.store.keys`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence

from redis.asyncio import Redis
from redis.exceptions import WatchError

from stream.contracts.records import Decoded
from stream.store.keys import Keys
from stream.store.state_plan import plan_writes

# Applies a whole batch of aggregated writes in one call: redis-py spends ~25 us per pipelined
# command on packing and parsing, far more than Redis spends executing it, so a batch travels as
# one JSON document. Facts of compacted/weather topics ("latest") are set only when their
# timestamp is not older than the stored one: they may be replayed or arrive late, and the latest
# fact must win (Feast's Redis store does the same). Every value arrives as a string.
# A script is not rolled back when a command in it fails, so it first checks that every key it
# will write holds nothing or the type it writes, and otherwise writes nothing and returns the
# keys in the way: a batch applies whole or not at all.
_APPLY_BATCH = """
local ops = cjson.decode(ARGV[1])
local conflicts = {}
local function expect(key, kind)
  local found = redis.call('TYPE', key).ok
  if found ~= 'none' and found ~= kind then table.insert(conflicts, {key, found, kind}) end
end
for _, op in ipairs(ops.incr) do expect(op[1], 'hash') end
for _, op in ipairs(ops.push) do expect(op[1], 'list') end
for _, op in ipairs(ops.add) do expect(op[1], 'set') end
for _, op in ipairs(ops.latest) do expect(op[1], 'hash') end
for _, op in ipairs(ops.zadd) do expect(op[1], 'zset') end
for _, op in ipairs(ops.set) do expect(op[1], 'string') end
for _, op in ipairs(ops.once) do expect(op[1], 'string') end
if #conflicts > 0 then return conflicts end
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
for _, op in ipairs(ops.once) do redis.call('SET', op[1], op[2], 'EX', op[3]) end
for _, key in ipairs(ops.expire) do redis.call('EXPIRE', key, ops.ttl) end
return {}
"""



class StateConflict(RuntimeError):
    """Keys recstream needs hold data of another type: the key prefix is shared with another
    program. Not a record's fault, so no dead letter can help: the worker stops, saying so."""


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

    async def applied_copies(self, origins: Sequence[str]) -> dict[str, str]:
        """For forwarded source records, which copy was applied (``topic:partition:offset``)."""
        winners = await self.client.mget([self.keys.forwarded(o) for o in origins])
        return {origin: (w.decode() if isinstance(w, bytes) else w)
                for origin, w in zip(origins, winners, strict=True) if w is not None}

    async def count(self, name: str, n: int) -> None:
        """Add to one of the stats counters (what a no-op worker consumed)."""
        await self.client.hincrby(self.keys.stats, name, n)

    async def apply(self, batch: Sequence[Decoded], before_commit: BeforeCommit) -> list[Decoded]:
        """Apply the records not applied before; return them.

        ``before_commit`` receives those fresh records before the transaction commits (the worker
        publishes dead letters there), so nothing is marked done before its side effects are.
        """
        if not batch:
            return []
        batch = list(batch)
        partitions = sorted({(d.record.topic, d.record.partition) for d in batch})
        offset_keys = [self.keys.offset(t, p) for t, p in partitions]
        origins = sorted({d.record.origin for d in batch if d.record.origin is not None})
        once_keys = [self.keys.forwarded(origin) for origin in origins]
        while True:
            async with self.client.pipeline(transaction=True) as pipe:
                try:
                    # The forwarded records' keys too: two owners racing on one source record
                    # (after a rebalance) cannot both apply it.
                    await pipe.watch(*offset_keys, *once_keys)
                    stored = await pipe.mget(offset_keys)
                    applied = {tp: int(v) if v is not None else 0
                               for tp, v in zip(partitions, stored, strict=True)}
                    seen = ([origin for origin, winner in zip(
                        origins, await pipe.mget(once_keys), strict=True) if winner is not None]
                        if once_keys else [])
                    fresh = [d for d in batch
                             if d.record.offset >= applied[(d.record.topic, d.record.partition)]]
                    if not fresh:
                        return []
                    await before_commit(fresh)
                    pipe.multi()
                    await self._apply_batch(keys=[], args=[plan_writes(
                        fresh, self.keys, self.recent_items, self.ttl_s, seen)], client=pipe)
                    conflicts, = await pipe.execute()
                except WatchError:
                    continue  # someone else advanced a partition of ours: re-read and retry
            if not conflicts:
                return fresh
            # Keys of another type under our prefix (not ours: no id can name another key):
            # the records that would write them are dead letters, the rest is applied.
            before, batch = batch, _dead_lettered(batch, self.keys, conflicts)
            if batch == before:  # the stats or offset keys themselves: not a record's doing
                raise StateConflict(f"keys under the prefix {self.keys.prefix!r} hold other "
                                    f"types: {conflicts!r}; is another program using it?")


def _dead_lettered(batch: list[Decoded], keys: Keys, conflicts: list[list[bytes]]
                   ) -> list[Decoded]:
    """The batch with each record that writes a conflicting key turned into a dead letter."""
    found = {key.decode(): (held.decode(), kind.decode()) for key, held, kind in conflicts}
    result = []
    for decoded in batch:
        touched = [key for key in found if key in _keys_of(decoded, keys)]
        if decoded.event is None or not touched:
            result.append(decoded)
            continue
        held, kind = found[touched[0]]
        result.append(Decoded(decoded.record, None, f"state_conflict: key {touched[0]!r} holds "
                                                    f"a {held}, where this event writes a {kind}"))
    return result


def _keys_of(decoded: Decoded, keys: Keys) -> set[str]:
    doc = json.loads(plan_writes([decoded], keys, recent_items=1, ttl_s=1))
    written = {op[0] for name in ("incr", "push", "add", "latest", "zadd") for op in doc[name]}
    return written - {keys.stats}  # every record counts there: not one record's key
