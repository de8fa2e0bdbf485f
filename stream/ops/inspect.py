"""What recstream knows about one user or item right now, read straight from the state in Redis."""

from __future__ import annotations

from typing import Any

import numpy as np
import redis

from models.embeddings import unpack

from stream.store.clients import sync_redis
from stream.settings import Settings
from stream.store.state import Keys


def inspect_user(settings: Settings, user_id: str, client: redis.Redis | None = None
                 ) -> dict[str, Any]:
    client = client or sync_redis(settings.redis)
    keys = Keys(settings.redis.key_prefix)
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(keys.user(user_id))
    pipe.lrange(keys.recent(user_id), 0, -1)
    pipe.smembers(keys.purchased(user_id))
    pipe.hgetall(keys.profile(user_id))
    summary, recent, purchased, profile = pipe.execute()
    location = summary.get("location") or profile.get("location")
    embedding = _vector(settings, keys.user_embedding(user_id))
    weather = client.hgetall(keys.weather(location)) if location else {}
    return {
        "user_id": user_id,
        "known": bool(summary or profile),
        "clicks": int(summary.get("clicks", 0)),
        "purchases": int(summary.get("purchases", 0)),
        "last_seen_ts_ms": int(summary["ts_ms"]) if "ts_ms" in summary else None,
        "location": location,
        "weather": _typed(weather) or None,
        "recent_items": recent,
        "purchased": sorted(purchased),
        "profile": _typed(profile) or None,
        "embedding_norm": round(float(np.linalg.norm(embedding)), 4) if embedding is not None
        else None,
    }


def inspect_item(settings: Settings, item_id: str, client: redis.Redis | None = None
                 ) -> dict[str, Any]:
    client = client or sync_redis(settings.redis)
    keys = Keys(settings.redis.key_prefix)
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(keys.item(item_id))
    pipe.hgetall(keys.item_meta(item_id))
    pipe.zrevrank(keys.trending("global"), item_id)
    counters, meta, rank = pipe.execute()
    embedding = _vector(settings, keys.item_embedding(item_id))
    return {
        "item_id": item_id,
        "known": bool(counters or meta),
        "clicks": int(counters.get("clicks", 0)),
        "purchases": int(counters.get("purchases", 0)),
        "units": int(counters.get("units", 0)),
        "meta": _typed(meta) or None,
        "embedding_norm": round(float(np.linalg.norm(embedding)), 4) if embedding is not None
        else None,
        "trending_rank": None if rank is None else rank + 1,  # 1: the shop's top item now
    }


def _vector(settings: Settings, key: str) -> np.ndarray | None:
    raw = sync_redis(settings.redis, decode=False).get(key)
    return unpack(raw) if raw else None


def applied_total(stats: dict[str, int]) -> int:
    """Records the state has dealt with: applied, dead-lettered or forwarded, each once.

    A forwarded (re-keyed) record is counted again, under its kind, when its owner applies the
    forwarded copy: it is left out here so totals equal the records produced."""
    return sum(v for k, v in stats.items() if k != "rekeyed")


def ingest_stats(settings: Settings, client: redis.Redis | None = None) -> dict[str, int]:
    """Events applied per kind and dead letters, over the life of this key prefix."""
    client = client or sync_redis(settings.redis)
    return {k: int(v) for k, v in client.hgetall(Keys(settings.redis.key_prefix).stats).items()}


def _typed(fields: dict[str, str]) -> dict[str, Any]:
    """Redis hashes hold strings; give numbers back as numbers for --json readers."""
    result: dict[str, Any] = {}
    for name, value in fields.items():
        try:
            number = float(value)
            result[name] = int(number) if number.is_integer() and "." not in value else number
        except ValueError:
            result[name] = value
    return result
