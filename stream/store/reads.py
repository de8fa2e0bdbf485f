"""What tools read from the state (inspect, the demo, evaluate, the benchmarks): one reader.

Blocking (the tools are not event loops) and decoding text, except vectors, which are packed
float32 and read through a second, binary client.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

import numpy as np
import redis

from models.embeddings import unpack
from stream.settings import RedisSettings
from stream.store.clients import sync_redis
from stream.store.keys import Keys


class StateReader:
    """Reads under one key prefix."""

    def __init__(self, settings: RedisSettings) -> None:
        self.keys = Keys(settings.key_prefix)
        self.client: redis.Redis = sync_redis(settings)
        self._binary: redis.Redis = sync_redis(settings, decode=False)

    # --- what the fleet has done --------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        """Events applied per kind, dead letters and re-keyed, over the life of the prefix."""
        return {name: int(value) for name, value in self._hash(self.keys.stats).items()}

    def applied_total(self) -> int:
        """Records the state has dealt with: applied, dead-lettered or forwarded, each once.

        A forwarded (re-keyed) record is counted again, under its kind, when its owner applies
        the forwarded copy, and a second copy of one is counted as a duplicate: both are left out
        here so totals equal the records produced, and so are re-dated events (counted under
        their kind too)."""
        again = ("rekeyed", "duplicate_forwards", "redated")
        return sum(v for k, v in self.stats().items() if k not in again)

    def dead_letter_reasons(self) -> dict[str, int]:
        """Dead letters per kind of reason."""
        return {kind: int(n) for kind, n in self._hash(self.keys.dead_letter_reasons).items()}

    def item_learning(self, shard: int) -> dict[str, str]:
        """An item shard's exported figures."""
        return self._hash(self.keys.item_learning(shard))

    def learning(self, shard: int) -> dict[str, str]:
        """A user shard's exported figures."""
        return self._hash(self.keys.learning(shard))

    def learned(self, shards: Iterable[int]) -> int:
        """Interactions learned by these user shards."""
        return self._sum_field([self.keys.learning(s) for s in shards], "learned")

    def steps_applied(self, shards: Iterable[int]) -> int:
        """Item steps applied by these item shards (one per interaction of the stream)."""
        return self._sum_field([self.keys.item_learning(s) for s in shards], "applied")

    # --- one user or item ---------------------------------------------------------------------
    def user(self, user_id: str) -> dict[str, Any]:
        keys = self.keys
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(keys.user(user_id))
        pipe.lrange(keys.recent(user_id), 0, -1)
        pipe.smembers(keys.purchased(user_id))
        pipe.hgetall(keys.profile(user_id))
        summary, recent, purchased, profile = pipe.execute()
        location = summary.get("location") or profile.get("location")
        return {"summary": summary, "recent": recent, "purchased": purchased,
                "profile": profile, "location": location,
                "weather": self._hash(keys.weather(location)) if location else {},
                "embedding": self.vector(keys.user_embedding(user_id))}

    def item(self, item_id: str) -> dict[str, Any]:
        keys = self.keys
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(keys.item(item_id))
        pipe.hgetall(keys.item_meta(item_id))
        pipe.zrevrank(keys.trending("global"), item_id)
        counters, meta, rank = pipe.execute()
        return {"counters": counters, "meta": meta, "trending_rank": rank,
                "embedding": self.vector(keys.item_embedding(item_id))}

    def latest_recent(self, users: Sequence[str]) -> list[tuple[str | None, bool]]:
        """Each user's newest recent item and whether they have an embedding, in one trip."""
        pipe = self.client.pipeline(transaction=False)
        for user in users:
            pipe.lindex(self.keys.recent(user), 0)
            pipe.exists(self.keys.user_embedding(user))
        replies = pipe.execute()
        return [(replies[2 * n], bool(replies[2 * n + 1])) for n in range(len(users))]

    def vector(self, key: str) -> np.ndarray | None:
        raw = cast(bytes | None, self._binary.get(key))
        return unpack(raw) if raw else None

    # --- memory (bench memory) ----------------------------------------------------------------
    def used_memory(self) -> int:
        return int(self.client.info("memory")["used_memory"])

    def latest_weather(self) -> dict[str, dict[str, str]]:
        """Each location's latest weather report."""
        prefix = self.keys.weather("")
        keys = self.scan(prefix + "*")
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        return {key[len(prefix):]: report for key, report in zip(keys, pipe.execute(),
                                                                  strict=True)}

    def scan(self, pattern: str) -> list[str]:
        return [cast(str, key) for key in self.client.scan_iter(pattern, count=10_000)]

    def mean_bytes(self, groups: list[list[str]]) -> float:
        """The mean over groups of the summed MEMORY USAGE of each group's keys."""
        pipe = self.client.pipeline(transaction=False)
        for group in groups:
            for key in group:
                pipe.memory_usage(key, samples=0)
        sizes = iter(pipe.execute())
        totals = [sum(next(sizes) or 0 for _ in group) for group in groups]
        return sum(totals) / max(len(totals), 1)

    def delete_prefixed(self, prefix: str) -> None:
        """Every key starting with ``prefix`` (a benchmark's own)."""
        keys = self.scan(f"{prefix}*")
        for start in range(0, len(keys), 10_000):
            self.client.delete(*keys[start:start + 10_000])

    def _hash(self, key: str) -> dict[str, str]:
        return cast(dict[str, str], self.client.hgetall(key))

    def _sum_field(self, keys: list[str], field: str) -> int:
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hget(key, field)
        return sum(int(value or 0) for value in pipe.execute())
