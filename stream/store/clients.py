"""Redis clients from the settings, in one place: the asyncio one workers share, and the
blocking ones tools use (decoded text, or raw bytes for packed vectors)."""

from __future__ import annotations

from typing import Any

import redis
from redis.asyncio import Redis

from stream.settings import Settings


def _options(settings: Settings) -> dict[str, Any]:
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    return {"username": settings.redis_username, "password": password}


def async_redis(settings: Settings) -> Redis:
    """For workers (connects lazily; never blocks the event loop)."""
    return Redis.from_url(settings.redis_url, **_options(settings))


def sync_redis(settings: Settings, decode: bool = True) -> redis.Redis:
    """For tools (CLI, benchmarks); ``decode=False`` for binary values such as embeddings."""
    return redis.Redis.from_url(settings.redis_url, decode_responses=decode, **_options(settings))
