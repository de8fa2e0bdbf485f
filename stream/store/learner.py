"""The learner's reads and writes in Redis: context facts, vectors, trending, figures, snapshots.

It implements :class:`stream.learning.checkpoint.LearnerStore`. Every call is one pipeline
(DESIGN decision 9): the context a batch needs is read in one round trip, and a checkpoint's
values are written in one, the vectors with the state TTL and the trending places through
scripts (MSET cannot expire; each set is cut to its best after the ZADDs, and expires unwritten
after the TTL too).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import cast

from redis.asyncio import Redis
from redis.typing import EncodableT, FieldT

from models.base import ItemInfo
from models.embeddings import pack
from stream.learning.context import ContextAnswers, ContextQuery
from stream.learning.interactions import Weather
from stream.learning.plan import Plan
from stream.store.keys import Keys

# Binary-safe: vectors travel as arguments, the TTL (seconds) last.
_SET_WITH_TTL = """
local ttl = ARGV[#ARGV]
for i, key in ipairs(KEYS) do redis.call('SET', key, ARGV[i], 'EX', ttl) end
return #KEYS
"""

# Item scores in the trending sorted sets (their one writer is the item's shard, so no two
# workers race on a member); a null score removes the member (its shard expired the item or
# dropped the scope, and Redis deletes a set left empty). Then each set is cut to its best
# TRENDING_KEPT and expires after the TTL unwritten: what a shard forgot without a word (sums
# decayed to nothing) does not keep a set forever.
_SET_TRENDING = """
local kept, ttl = tonumber(ARGV[2]), ARGV[3]
local touched = {}
for _, op in ipairs(cjson.decode(ARGV[1])) do
  if op[2] == cjson.null then
    redis.call('ZREM', op[1], op[3])
  else
    redis.call('ZADD', op[1], op[2], op[3])
  end
  touched[op[1]] = true
end
for key, _ in pairs(touched) do
  redis.call('ZREMRANGEBYRANK', key, 0, -kept - 1)
  redis.call('EXPIRE', key, ttl)
end
return 0
"""
# Items kept per trending scope in Redis: far more than a request's candidates.
TRENDING_KEPT = 1000


class RedisLearnerStore:
    """The learner's side of Redis, under one key prefix."""

    def __init__(self, client: Redis, keys: Keys, ttl_s: float) -> None:
        self.client = client
        self.keys = keys
        self.ttl_s = int(ttl_s)
        self._set_vectors = client.register_script(_SET_WITH_TTL)
        self._set_trending = client.register_script(_SET_TRENDING)

    async def read_context(self, query: ContextQuery) -> ContextAnswers:
        pipe = self.client.pipeline(transaction=False)
        for user_id in query.users:
            pipe.hget(self.keys.profile(user_id), "location")
        for location, since in query.weather.items():
            pipe.zrangebyscore(self.keys.weather_history(location), f"({since}", "+inf",
                               withscores=True)
        for item_id in query.items:
            pipe.hmget(self.keys.item_meta(item_id), "category", "price")
        results = await pipe.execute()
        profiles = results[:len(query.users)]
        histories = results[len(query.users):len(query.users) + len(query.weather)]
        entries = results[len(query.users) + len(query.weather):]
        locations = {user_id: (value.decode() if value else None)
                     for user_id, value in zip(query.users, profiles, strict=True)}
        weather = {}
        for location, rows in zip(query.weather, histories, strict=True):
            reports = []
            for member, score in rows:
                fields = json.loads(member)
                reports.append((score, Weather(fields["condition"], fields["temp_c"])))
            weather[location] = reports
        items: dict[str, ItemInfo | None] = {}
        for item_id, (category, price) in zip(query.items, entries, strict=True):
            items[item_id] = None if category is None and price is None else ItemInfo(
                item_id, category=category.decode() if category else None,
                price=float(price) if price else None)
        return ContextAnswers(locations, weather, items)

    async def write(self, plan: Plan) -> None:
        pipe = self.client.pipeline(transaction=False)
        for partition, figures in plan.figures.items():
            pipe.hset(self.keys.learning(partition), mapping=cast(Mapping[FieldT, EncodableT], figures))
        for partition, figures in plan.item_figures.items():
            pipe.hset(self.keys.item_learning(partition), mapping=cast(Mapping[FieldT, EncodableT], figures))
        vectors = {self.keys.user_embedding(user): pack(vec)
                   for user, vec in plan.user_vectors.items()}
        vectors.update((self.keys.item_embedding(item), pack(vec))
                       for item, vec in plan.item_vectors.items())
        if vectors:
            await self._set_vectors(keys=list(vectors), client=pipe,
                                    args=[*vectors.values(), self.ttl_s])
        if plan.dead_letters:
            pipe.hincrby(self.keys.stats, "dead_letters", sum(plan.dead_letters.values()))
            for kind, count in plan.dead_letters.items():
                pipe.hincrby(self.keys.dead_letter_reasons, kind, count)
        if plan.trending:
            places = [(self.keys.trending(scope), score, item)
                      for scope, score, item in plan.trending]
            await self._set_trending(client=pipe, args=[
                json.dumps(places, separators=(",", ":")), TRENDING_KEPT, self.ttl_s])
        await pipe.execute()

    async def load_snapshot(self, kind: str, partition: int) -> bytes | None:
        blob = await self.client.get(self._snapshot_key(kind, partition))
        assert blob is None or isinstance(blob, bytes), "a client that decodes responses"
        return blob

    async def save_snapshot(self, kind: str, partition: int, blob: bytes) -> None:
        await self.client.set(self._snapshot_key(kind, partition), blob)

    def _snapshot_key(self, kind: str, partition: int) -> str:
        if kind == "user":
            return self.keys.snapshot(partition)
        return self.keys.item_snapshot(partition)


