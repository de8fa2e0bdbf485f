"""Every Redis key name recstream uses, in one place, for the writers and the readers.

**No id can name another key.** Ids come from the outside (a user id may be ``alice:recent``), so
a key is ``<prefix>:<space>:<id>``: the prefix holds no ``:`` (a setting checked at start-up),
each space is a fixed word without ``:``, and the id, whatever it holds, comes last. The space is
then everything between the first and the second ``:``, so two keys are equal only when their
spaces and their ids are: one user's id can never spell another user's list, or an item's hash.

Keys (``p`` is ``settings.redis.key_prefix``):
  p:user:<user>             hash: clicks, purchases; ts_ms (last seen) and location, newest wins
  p:recent:<user>           list: newest first, trimmed to ``recent_items``
  p:purchased:<user>        set of item ids
  p:profile:<user>          hash: the latest UserProfile (ts_ms guards order)
  p:item:<item>             hash: clicks, purchases, units
  p:item-meta:<item>        hash: the latest ItemUpsert (ts_ms guards order)
  p:weather:<location>      hash: the latest weather (ts_ms guards order)
  p:weather-history:<location>  sorted set by ts_ms: the last WEATHER_HISTORY reports
  p:user-vec:<user>, p:item-vec:<item>   packed float32 vectors (the learner,
                            stream/store/learner.py)
  p:trending:<scope>        sorted set: item -> log2 of its decayed count at time 0, so the order
                            holds at any time (value at t: 2 ** (score - t / half-life)); scopes
                            "global", "location=<l>", "condition=<c>", "location,condition=<l>|<c>";
                            its best 1,000 items. An item leaves when its item shard expires it or
                            drops the scope (each keeps ``max_trending_scopes``, the places with
                            the least mass go first), so a set all shards dropped is gone; a set
                            unwritten for the state TTL expires
  p:learning:<shard>, p:snapshot:<shard>   a user shard's figures and signed snapshot
  p:item-learning:<shard>, p:item-snapshot:<shard>   the same for an item shard
  p:offsets:<topic>:<partition>  the next offset not yet applied
  p:forwarded:<topic>:<partition>:<offset>  which re-keyed copy of that source record was
                            applied (its own topic:partition:offset), kept past the retention
  p:stats                   hash: events applied per kind, dead letters, re-keyed (forwarded)
  p:dead-letter-reasons     hash: dead letters per kind of reason (``invalid ClickEvent``, ...)
  p:ranker:versions         hash: ranker version -> its registry entry (JSON; stream/ranker/registry.py)
  p:ranker:live             string: the version serving now (absent: the River model ranks)
  p:ranker:history          list: the versions live before it, newest first (what rollback restores)

>>> keys = Keys("p")
>>> keys.recent("alice"), keys.user("alice:recent")
('p:recent:alice', 'p:user:alice:recent')
"""

from __future__ import annotations


class Keys:
    """Key names under one prefix."""

    def __init__(self, prefix: str) -> None:
        if ":" in prefix:
            raise ValueError(f"a key prefix holds no ':' (got {prefix!r})")
        self.prefix = prefix

    def _key(self, space: str, name: str) -> str:
        return f"{self.prefix}:{space}:{name}"

    def user(self, user_id: str) -> str:
        return self._key("user", user_id)

    def recent(self, user_id: str) -> str:
        return self._key("recent", user_id)

    def purchased(self, user_id: str) -> str:
        return self._key("purchased", user_id)

    def profile(self, user_id: str) -> str:
        return self._key("profile", user_id)

    def user_embedding(self, user_id: str) -> str:
        return self._key("user-vec", user_id)

    def item(self, item_id: str) -> str:
        return self._key("item", item_id)

    def item_meta(self, item_id: str) -> str:
        return self._key("item-meta", item_id)

    def item_embedding(self, item_id: str) -> str:
        return self._key("item-vec", item_id)

    def weather(self, location: str) -> str:
        return self._key("weather", location)

    def weather_history(self, location: str) -> str:
        return self._key("weather-history", location)

    def trending(self, scope: str) -> str:
        return self._key("trending", scope)

    def learning(self, shard: int) -> str:
        return self._key("learning", str(shard))

    def snapshot(self, shard: int) -> str:
        return self._key("snapshot", str(shard))

    def item_learning(self, shard: int) -> str:
        return self._key("item-learning", str(shard))

    def item_snapshot(self, shard: int) -> str:
        return self._key("item-snapshot", str(shard))

    def forwarded(self, origin: str) -> str:
        return self._key("forwarded", origin)

    def offset(self, topic: str, partition: int) -> str:
        return self._key("offsets", f"{topic}:{partition}")

    def ranker(self, part: str) -> str:
        return self._key("ranker", part)

    @property
    def stats(self) -> str:
        return f"{self.prefix}:stats"

    @property
    def dead_letter_reasons(self) -> str:
        return f"{self.prefix}:dead-letter-reasons"
