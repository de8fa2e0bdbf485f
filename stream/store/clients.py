"""Redis clients from the settings, in one place: the asyncio one workers share, and the
blocking ones tools use (decoded text, or raw bytes for packed vectors)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import redis
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from stream.errors import UserFacingError
from stream.settings import RedisSettings

# Redis briefly away: worth waiting out (the consumer retries the batch), never a dead letter.
TRANSIENT = (RedisConnectionError, RedisTimeoutError)


class RedisUnavailable(UserFacingError, ConnectionError):
    """Redis did not answer a tool. A worker waits such an outage out; a command at the
    terminal says where it looked and stops."""


def unavailable(redis_settings: RedisSettings, exc: Exception) -> RedisUnavailable:
    """What to tell the user when Redis did not answer: the address without its credentials."""
    parts = urlsplit(redis_settings.url)
    address = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    return RedisUnavailable(f"Redis did not answer at {address} (RECSTREAM_REDIS_URL; "
                            f"`recstream stack up` starts the local one): {exc}")


def _options(redis_settings: RedisSettings) -> dict[str, Any]:
    password = redis_settings.password.get_secret_value() if redis_settings.password else None
    return {"username": redis_settings.username, "password": password,
            "socket_connect_timeout": redis_settings.connect_timeout_s,
            "socket_timeout": redis_settings.socket_timeout_s}


def async_redis(redis_settings: RedisSettings) -> Redis:
    """For workers (connects lazily; never blocks the event loop)."""
    return Redis.from_url(redis_settings.url, **_options(redis_settings))


def sync_redis(redis_settings: RedisSettings, decode: bool = True) -> redis.Redis:
    """For tools (CLI, benchmarks); ``decode=False`` for binary values such as embeddings."""
    return redis.Redis.from_url(redis_settings.url, decode_responses=decode, **_options(redis_settings))
