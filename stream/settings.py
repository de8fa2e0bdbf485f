"""One typed, validated, frozen settings object for every recstream process.

Values come, highest priority first, from keyword arguments, environment variables prefixed
``RECSTREAM_`` and an optional TOML file named by ``RECSTREAM_CONFIG_FILE`` (see
``deploy/recstream.example.toml``). A bad value stops start-up with a message naming the setting:
:func:`load_settings` turns pydantic's error into :class:`SettingsError`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_FILE_ENV = "RECSTREAM_CONFIG_FILE"


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names it and says what was expected."""


class Settings(BaseSettings):
    """Everything a recstream process can be told. Hyperparameters of models live with the models."""

    model_config = SettingsConfigDict(env_prefix="RECSTREAM_", frozen=True, extra="forbid")

    # --- Kafka -------------------------------------------------------------------------------
    # Defaults to the local stack's broker, 127.0.0.1:<kafka_port>.
    kafka_bootstrap: str = Field(None, min_length=1)  # type: ignore[assignment]
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    # Partitions of the keyed event topics; recommendation requests (not built yet) will use the
    # same count so a user's requests land where the user's events do (DESIGN decision 2).
    partitions: int = Field(4, ge=1, le=1024)
    replication_factor: int = Field(1, ge=1, le=16)

    topic_clicks: str = Field("shop.clicks", min_length=1, max_length=249)
    topic_purchases: str = Field("shop.purchases", min_length=1, max_length=249)
    topic_weather: str = Field("weather.events", min_length=1, max_length=249)
    topic_items: str = Field("shop.items", min_length=1, max_length=249)
    topic_users: str = Field("shop.users", min_length=1, max_length=249)
    topic_dlq: str = Field("events.dlq", min_length=1, max_length=249)
    # Filled by the serving path (not built yet); the workers already join it with clicks.
    topic_impressions: str = Field("reco.impressions", min_length=1, max_length=249)
    # Internal: the item halves of embedding updates, routed to each item's partition (one
    # writer per item), and the item vectors and trending counts their owners broadcast
    # (compacted, read in full).
    topic_item_steps: str = Field("learn.item-steps", min_length=1, max_length=249)
    topic_item_vectors: str = Field("model.item-vectors", min_length=1, max_length=249)
    topic_item_trending: str = Field("model.item-trending", min_length=1, max_length=249)

    # --- Redis -------------------------------------------------------------------------------
    # Defaults to the local stack's server, redis://127.0.0.1:<redis_port>/0.
    redis_url: str = Field(None)  # type: ignore[assignment]
    redis_username: str | None = None
    redis_password: SecretStr | None = None
    # Every key recstream writes starts with this, so several deployments (or tests) share a server.
    key_prefix: str = Field("rs", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")

    # --- Worker ------------------------------------------------------------------------------
    app_id: str = Field("recstream", min_length=1, max_length=200)
    # The worker takes what Kafka has, up to batch_size records, waiting at most batch_max_age_s
    # when nothing is there (the broker holds a fetch no longer either); each batch is one Redis
    # transaction with its offsets. 500 keeps a batch's Lua call well inside Redis' argument-
    # unpack limit (~8,000 items per user) and 100 ms keeps freshness far inside the one-second
    # budget.
    batch_size: int = Field(500, ge=1, le=5_000)
    batch_max_age_s: float = Field(0.1, gt=0, le=30)
    recent_items: int = Field(50, ge=1, le=10_000)
    max_message_bytes: int = Field(64 * 1024, ge=256, le=16 * 1024 * 1024)
    # How long the group waits for a silent worker before its partitions move (a crashed worker
    # is detected this fast); heartbeats go every third of it.
    worker_session_timeout_s: float = Field(10.0, ge=6, le=300)
    worker_web_port: int | None = Field(None, ge=1, le=65535)
    # 127.0.0.1 on one host; 0.0.0.0 in a pod, so probes and Prometheus can reach the views.
    worker_web_bind: str = "127.0.0.1"
    log_level: Literal["debug", "info", "warn", "error", "crit"] = "info"

    # --- Online learning ---------------------------------------------------------------------
    learning: bool = True
    # Benchmarks only: consume and count batches, nothing else (what the framework costs).
    worker_noop: bool = False
    # HMAC key of model snapshots; unset on a local stack, a random key is kept in the state
    # folder (set it in production, from a secret, the same for every worker).
    snapshot_key: SecretStr | None = None
    # A shard's models are snapshotted (with the offsets they cover) this often and on revocation;
    # a crash costs at most this much re-learning.
    snapshot_every_s: float = Field(30.0, gt=0, le=3600)
    # Live prequential evaluation scores every n-th basket (`evaluate` scores every one). A
    # recommendation (hybrid candidates re-ranked) costs ~2 ms against ~0.1 ms to learn an
    # event: every 100th took 12% of a loaded worker's time; every 500th adds ~4 us per event
    # and at 5,000 events/s still scores over 20,000 baskets an hour.
    eval_sample_every: int = Field(500, ge=1, le=1_000_000)
    exclude_purchased: bool = True
    # Also measure the other exclude-purchased protocol (a second recommendation per basket).
    eval_report_both: bool = False
    # Users and items unseen this long are dropped: from the models by event time, from Redis by
    # a key TTL renewed on every write.
    state_ttl_s: float = Field(90 * 86400.0, gt=0)
    # An item earns an embedding only after this many interactions (Monolith's frequency
    # filter): one-off items cost no vector.
    min_item_count: int = Field(2, ge=1, le=1_000_000)
    # An item's owner broadcasts (and stores) the vectors it changed at most this often: an item
    # vector moves little per event, and every broadcast message costs every worker a read.
    item_vector_publish_s: float = Field(1.0, gt=0, le=60)
    # Weather to use where a user's location is unknown or has no series.
    default_location: str | None = None

    # --- Local stack -------------------------------------------------------------------------
    state_dir: Path = Path(".recstream")
    cache_dir: Path = Path.home() / ".cache" / "recstream"
    kafka_version: str = Field("4.4.0", pattern=r"^\d+\.\d+\.\d+$")
    kafka_port: int = Field(19092, ge=1, le=65535)
    kafka_controller_port: int = Field(19093, ge=1, le=65535)
    kafka_heap: str = Field("768m", pattern=r"^\d+[kmg]$")
    redis_port: int = Field(16379, ge=1, le=65535)
    stack_start_timeout_s: float = Field(120.0, gt=0)

    # --- Producer ----------------------------------------------------------------------------
    producer_delivery_timeout_ms: int = Field(30_000, ge=100)
    producer_linger_ms: int = Field(5, ge=0, le=10_000)
    producer_compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "lz4"

    @model_validator(mode="before")
    @classmethod
    def _local_stack_defaults(cls, data: Any) -> Any:
        """Point clients at the local stack's ports unless told otherwise."""
        if isinstance(data, dict):
            if data.get("kafka_bootstrap") is None:
                data["kafka_bootstrap"] = f"127.0.0.1:{data.get('kafka_port', 19092)}"
            if data.get("redis_url") is None:
                data["redis_url"] = f"redis://127.0.0.1:{data.get('redis_port', 16379)}/0"
        return data

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_has_ports(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port...], got {value!r}")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"expected a redis://, rediss:// or unix:// URL, got {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.kafka_security_protocol.startswith("SASL") and not (
            self.kafka_sasl_mechanism and self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError(
                "kafka_security_protocol SASL_* needs kafka_sasl_mechanism, "
                "kafka_sasl_username and kafka_sasl_password"
            )
        if self.kafka_port == self.kafka_controller_port:
            raise ValueError("kafka_port and kafka_controller_port must differ")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_FILE_ENV)
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    def to_env(self) -> dict[str, str]:
        """These settings as RECSTREAM_* variables, so a child process sees exactly them."""
        env = {}
        for name, value in self.model_dump(exclude_none=True).items():
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            env[f"RECSTREAM_{name.upper()}"] = str(value)
        return env

    def namespaced(self, tag: str) -> Settings:
        """A copy whose topics, consumer group, key prefix and state folder carry ``tag``.

        Tests and benchmarks run side by side on one stack without seeing each other's data.
        """
        return self.model_copy(update={
            "app_id": f"{self.app_id}-{tag}",
            "key_prefix": f"{self.key_prefix}-{tag}",
            "topic_clicks": f"{self.topic_clicks}-{tag}",
            "topic_purchases": f"{self.topic_purchases}-{tag}",
            "topic_weather": f"{self.topic_weather}-{tag}",
            "topic_items": f"{self.topic_items}-{tag}",
            "topic_users": f"{self.topic_users}-{tag}",
            "topic_dlq": f"{self.topic_dlq}-{tag}",
            "topic_impressions": f"{self.topic_impressions}-{tag}",
            "topic_item_steps": f"{self.topic_item_steps}-{tag}",
            "topic_item_vectors": f"{self.topic_item_vectors}-{tag}",
            "topic_item_trending": f"{self.topic_item_trending}-{tag}",
            "state_dir": self.state_dir / tag,
        })

    @property
    def event_topics(self) -> tuple[str, ...]:
        """The topics a worker ingests."""
        return (
            self.topic_clicks,
            self.topic_purchases,
            self.topic_weather,
            self.topic_items,
            self.topic_users,
            self.topic_impressions,
        )


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, or raise :class:`SettingsError` naming every bad setting.

    >>> load_settings(partitions=0)
    Traceback (most recent call last):
    ...
    stream.settings.SettingsError: invalid setting RECSTREAM_PARTITIONS: Input should be greater than or equal to 1 (got 0)
    """
    config_file = os.environ.get(CONFIG_FILE_ENV)
    if config_file and not Path(config_file).is_file():
        raise SettingsError(f"{CONFIG_FILE_ENV} names {config_file!r}, which is not a file")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        name = "RECSTREAM_" + "_".join(str(part) for part in error["loc"]).upper()
        if not error["loc"]:
            name = "settings"
        got = f" (got {error['input']!r})" if not isinstance(error["input"], dict) else ""
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"invalid setting {name}: {message}{got}")
    return "; ".join(lines)
