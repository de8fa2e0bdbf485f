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
                    await self._apply_batch(keys=[], args=[plan_writes(
                        fresh, self.keys, self.recent_items, self.ttl_s)], client=pipe)
                    await pipe.execute()
                    return fresh
                except WatchError:
                    continue  # someone else advanced a partition of ours: re-read and retry
