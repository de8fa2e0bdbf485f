"""Every Redis key name recstream uses, in one place, for the writers and the readers.

Keys (``p`` is ``settings.redis.key_prefix``):
  p:u:<user>            hash: clicks, purchases; ts_ms (last seen) and location, newest wins
  p:u:<user>:recent     list: newest first, trimmed to ``recent_items``
  p:u:<user>:purchased  set of item ids
  p:u:<user>:profile    hash: the latest UserProfile (ts_ms guards order)
  p:i:<item>            hash: clicks, purchases, units
  p:i:<item>:meta       hash: the latest ItemUpsert (ts_ms guards order)
  p:w:<location>        hash: the latest weather (ts_ms guards order)
  p:w:<location>:history  sorted set by ts_ms: the last WEATHER_HISTORY reports
  p:u:<user>:emb, p:i:<item>:emb   packed float32 vectors (the learner, stream/store/learner.py)
  p:trending:<scope>    sorted set: item -> log2 of its decayed count at time 0, so the order
                        holds at any time (value at t: 2 ** (score - t / half-life)); scopes
                        "global", "location=<l>", "condition=<c>", "location,condition=<l>|<c>"
  p:learning:<shard>, p:snapshot:<shard>   a user shard's figures and signed snapshot
  p:learning:items:<shard>, p:snapshot:items:<shard>   the same for an item shard
  p:offsets:<topic>:<partition>  the next offset not yet applied
  p:stats               hash: events applied per kind, dead letters, re-keyed (forwarded)
"""

from __future__ import annotations


class Keys:
    """Key names under one prefix."""

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
