"""The sections of the settings: one frozen model per part of the system.

Each field's alias is its flat name (``RECSTREAM_<ALIAS>``, or the key in the TOML file), so the
names operators use stay flat while each part of the code takes only its section.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

# Words of the placeholders in deploy/ and docs: a key holding one was copied, not generated.
PLACEHOLDER_WORDS = ("change-me", "changeme", "change_me", "random secret", "placeholder",
                     "example", "xxxx")


class Section(BaseModel):
    """A group of settings; each field's alias is its flat name (``RECSTREAM_<ALIAS>``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _topic(name: str, default: str) -> Any:
    return Field(default, alias=f"topic_{name}", min_length=1, max_length=249)


class KafkaSettings(Section):
    # Defaults to the local stack's broker, 127.0.0.1:<kafka_port>.
    bootstrap: str = Field(None, alias="kafka_bootstrap", min_length=1)  # type: ignore[assignment]
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", alias="kafka_security_protocol")
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, alias="kafka_sasl_mechanism")
    sasl_username: str | None = Field(None, alias="kafka_sasl_username")
    sasl_password: SecretStr | None = Field(None, alias="kafka_sasl_password")
    ssl_cafile: Path | None = Field(None, alias="kafka_ssl_cafile")
    # Partitions of the keyed topics; recommendation requests use the same count so a user's
    # requests land where the user's events do (DESIGN decision 2).
    partitions: int = Field(4, ge=1, le=1024)
    replication_factor: int = Field(1, ge=1, le=16)
    producer_delivery_timeout_ms: int = Field(30_000, ge=100)
    producer_linger_ms: int = Field(5, ge=0, le=10_000)
    producer_compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "lz4"

    @field_validator("bootstrap")
    @classmethod
    def _bootstrap_has_ports(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port...], got {value!r}")
        return value

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL") and not (
            self.sasl_mechanism and self.sasl_username and self.sasl_password
        ):
            raise ValueError(
                "kafka_security_protocol SASL_* needs kafka_sasl_mechanism, "
                "kafka_sasl_username and kafka_sasl_password"
            )
        return self


class TopicSettings(Section):
    clicks: str = _topic("clicks", "shop.clicks")
    purchases: str = _topic("purchases", "shop.purchases")
    weather: str = _topic("weather", "weather.events")
    items: str = _topic("items", "shop.items")
    users: str = _topic("users", "shop.users")
    dlq: str = _topic("dlq", "events.dlq")
    # Filled by the serving path; the workers join it with clicks.
    impressions: str = _topic("impressions", "reco.impressions")
    # Recommendation requests (keyed by user, co-partitioned with the events) and the default
    # topic for their replies (keyed by request id; a client may name its own).
    requests: str = _topic("requests", "reco.requests")
    responses: str = _topic("responses", "reco.responses")
    # Internal: the item halves of embedding updates, routed to each item's partition (one
    # writer per item), and the item vectors and trending counts their owners broadcast
    # (compacted, read in full).
    item_steps: str = _topic("item_steps", "learn.item-steps")
    item_vectors: str = _topic("item_vectors", "model.item-vectors")
    item_trending: str = _topic("item_trending", "model.item-trending")
    # Ranker versions going live (promotion, rollback): every worker reads it and swaps.
    control: str = _topic("control", "models.control")
    # The ranker's training data: each shown item with its logged feature row, labelled by the
    # clicks and purchases that followed (keyed by request id; `recstream ranker export`).
    examples: str = _topic("examples", "ranker.examples")

    @property
    def events(self) -> tuple[str, ...]:
        """The topics a worker ingests."""
        return (self.clicks, self.purchases, self.weather, self.items, self.users,
                self.impressions)

    @property
    def user_keyed(self) -> tuple[str, ...]:
        """The topics whose partition p holds the events of shard p's users."""
        return (self.clicks, self.purchases, self.impressions)


class RedisSettings(Section):
    # Defaults to the local stack's server, redis://127.0.0.1:<redis_port>/0.
    url: str = Field(None, alias="redis_url")  # type: ignore[assignment]
    username: str | None = Field(None, alias="redis_username")
    password: SecretStr | None = Field(None, alias="redis_password")
    # Every key recstream writes starts with this, so several deployments (or tests) share a
    # server.
    key_prefix: str = Field("rs", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    # A hung Redis must not hang a worker: a call that takes longer fails (and is retried as a
    # transient error). A batch's script takes a few ms; a snapshot write of a large shard
    # (tens of MB) stays well inside 10 s here.
    connect_timeout_s: float = Field(5.0, gt=0, le=300, alias="redis_connect_timeout_s")
    socket_timeout_s: float = Field(10.0, gt=0, le=600, alias="redis_socket_timeout_s")

    @field_validator("url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"expected a redis://, rediss:// or unix:// URL, got {value!r}")
        return value


class WorkerSettings(Section):
    app_id: str = Field("recstream", min_length=1, max_length=200)
    # The worker takes what Kafka has, up to batch_size records, waiting at most batch_max_age_s
    # when nothing is there (the broker holds a fetch no longer either); each batch is one Redis
    # transaction with its offsets. 500 keeps a batch's Lua call well inside Redis' argument-
    # unpack limit (~8,000 items per user) and 100 ms keeps freshness far inside the one-second
    # budget.
    batch_size: int = Field(500, ge=1, le=5_000)
    # While requests arrive (one in the last second), learning yields to them every this many
    # events (a slice of a batch): a request waits for at most one slice to be learned, and
    # learning 500 takes ~150 ms here. The batch itself stays whole (one checkpoint): capped at
    # this size, batches capped learning at what their round trips allowed, under 2,000/s.
    serving_batch_size: int = Field(32, ge=1, le=5_000)
    batch_max_age_s: float = Field(0.1, gt=0, le=30)
    # A fetch that brings less than a full batch waits this long for more before it is learned:
    # each batch costs round trips (the state's script, the checkpoint's sends and writes, the
    # offsets' commit) whatever its size, and a steady stream otherwise came in batches of a few
    # events, paying them per few events. 0: learn what each fetch brings at once.
    batch_linger_s: float = Field(0.02, ge=0, le=1)
    # The broker holds a worker's fetch until fetch_min_bytes (a few dozen events) gathered or
    # fetch_max_wait_s passed: the longest a request waits for the fetch that brings it, and
    # what keeps fetches from coming back to back (BatchConsumerService).
    fetch_max_wait_s: float = Field(0.01, ge=0.001, le=1)
    fetch_min_bytes: int = Field(16 * 1024, ge=1, le=4 * 1024 * 1024)
    recent_items: int = Field(50, ge=1, le=10_000)
    max_message_bytes: int = Field(64 * 1024, ge=256, le=16 * 1024 * 1024)
    # How far an event's ts may lie ahead of the time the broker appended it; later events are
    # dead letters (ts_in_future): one event dated 2100 must not move any model's clock.
    event_time_max_ahead_s: float = Field(3600.0, ge=0, le=366 * 86400)
    # How long the group waits for a silent worker before its partitions move (a crashed worker
    # is detected this fast); heartbeats go every third of it.
    session_timeout_s: float = Field(10.0, ge=6, le=300, alias="worker_session_timeout_s")
    web_port: int | None = Field(None, ge=1, le=65535, alias="worker_web_port")
    # 127.0.0.1 on one host; 0.0.0.0 in a pod, so probes and Prometheus can reach the views.
    web_bind: str = Field("127.0.0.1", alias="worker_web_bind")
    log_level: Literal["debug", "info", "warn", "error", "crit"] = "info"
    # Benchmarks only: consume and count batches, nothing else (what the framework costs).
    noop: bool = Field(False, alias="worker_noop")


class LearningSettings(Section):
    enabled: bool = Field(True, alias="learning")
    # HMAC key of model snapshots, the same for every worker, from a secret. Required outside
    # the local stack (there a random key is kept in the state folder).
    snapshot_key: SecretStr | None = None
    # A shard's models are snapshotted (with the offsets they cover) this often and on
    # revocation; a crash costs at most this much re-learning.
    snapshot_every_s: float = Field(30.0, gt=0, le=3600)
    # Live prequential evaluation scores every n-th basket (`evaluate` scores every one). A
    # recommendation (hybrid candidates re-ranked) costs ~2 ms against ~0.1 ms to learn an
    # event: every 100th took 12% of a loaded worker's time; every 500th adds ~4 us per event
    # and at 5,000 events/s still scores over 20,000 baskets an hour.
    eval_sample_every: int = Field(500, ge=1, le=1_000_000)
    # Also measure the other exclude-purchased protocol (a second recommendation per basket).
    eval_report_both: bool = False
    # Users and items unseen this long are dropped: from the models by event time, from Redis by
    # a key TTL renewed on every write.
    state_ttl_s: float = Field(90 * 86400.0, gt=0)
    # An item earns an embedding only after this many interactions (Monolith's frequency
    # filter): one-off items cost no vector.
    min_item_count: int = Field(2, ge=1, le=1_000_000)
    # Users a user shard keeps in memory (vectors, repeat profiles, recent sessions, purchases):
    # past it, the users unseen longest are forgotten at the next snapshot (a forgotten user
    # is a new user again). Also the size of the worker's caches of profiles and catalogue
    # misses. Measured (bench memory, 20k users, 5k items): the worker's RSS grew 163 MiB, at
    # most 8 KB a user, so the default costs at most ~400 MB a shard.
    max_users_per_shard: int = Field(50_000, ge=100, le=100_000_000)
    # Trending scopes each item shard and each user shard's copy keeps: a location is whatever
    # an event claims, so past this the places with the least (decayed) mass are forgotten, in
    # Redis too. 7,000 is a thousand places, each alone and in each of the six weather
    # conditions, where a shop has a few dozen; the global and weather scopes always stay.
    max_trending_scopes: int = Field(7_000, ge=100, le=1_000_000)
    # A user shard learns its topics (clicks, purchases, impressions) merged in event time:
    # when one is read ahead of another (a replay, a backlog) its later events wait, at most
    # this many (past it the earliest go on). A held event costs about half a KB.
    max_held_events: int = Field(50_000, ge=0, le=10_000_000)
    # An item's owner broadcasts (and stores) the vectors it changed at most this often: an item
    # vector moves little per event, and every broadcast message costs every worker a read.
    item_vector_publish_s: float = Field(1.0, gt=0, le=60)
    # It also publishes once its event time (the latest it applied) moved this far since the
    # last time, so a replay or a backlog, which runs the shop's hours through in seconds, learns
    # each event with the freshness live traffic has (stream/learning/cadence.py). 0: off.
    item_vector_publish_event_s: float = Field(1.0, ge=0, le=86_400)
    # Write the lists the prequential evaluation scores to the examples topic too, labelled by
    # the basket they were scored for: `recstream evaluate` turns it on, so a replay of a real
    # data set yields the ranker's training data without live traffic. Off live: nobody was
    # shown those lists.
    log_evaluated: bool = False
    # Weather to use where a user's location is unknown or has no series.
    default_location: str | None = None

    @field_validator("snapshot_key")
    @classmethod
    def _a_real_secret(cls, value: SecretStr | None) -> SecretStr | None:
        """A placeholder copied from an example, or a short key, would let anyone who read the
        example sign a snapshot (and unpickling a snapshot runs code)."""
        if value is None:
            return None
        key = value.get_secret_value()
        if any(word in key.lower() for word in PLACEHOLDER_WORDS):
            raise ValueError("is a placeholder from an example; set a random secret "
                             "(e.g. `openssl rand -hex 32`)")
        if len(key) < 32:
            raise ValueError(f"must be at least 32 characters (got {len(key)})")
        return value


class ServingSettings(Section):
    # The business rule: never recommend what the user bought (and the evaluation protocol that
    # measures it).
    exclude_purchased: bool = True
    # Candidates the models score per request (the reply keeps the best k after the rules):
    # more finds more, and costs more (recstream bench serve measures it).
    candidates: int = Field(100, ge=1, le=2_000)
    # At most this many items of one category in a reply (diversity); 0: no cap.
    max_per_category: int = Field(0, ge=0, le=200)
    # How long a request without a deadline_ms may wait before it is answered late.
    default_deadline_ms: int = Field(1_000, ge=1, le=600_000)
    # Every reply is logged to the impressions topic (the label join's negatives): off only for
    # tests of the round trip alone.
    log_impressions: bool = True
    # Each impression carries the ranker's feature rows of what it showed (feature logging),
    # which the workers label into the examples topic: ~0.2 ms a reply of 20 items (measured).
    log_features: bool = True
    # Where ranker versions are kept (one folder each: model.onnx and the slice it was gated
    # on). Every worker must read it: a shared volume beyond one host.
    ranker_dir: Path = Path(".recstream/ranker")


class StackSettings(Section):
    state_dir: Path = Path(".recstream")
    cache_dir: Path = Path.home() / ".cache" / "recstream"
    kafka_version: str = Field("4.4.0", pattern=r"^\d+\.\d+\.\d+$")
    kafka_port: int = Field(19092, ge=1, le=65535)
    kafka_controller_port: int = Field(19093, ge=1, le=65535)
    kafka_heap: str = Field("768m", pattern=r"^\d+[kmg]$")
    redis_port: int = Field(16379, ge=1, le=65535)
    start_timeout_s: float = Field(120.0, gt=0, alias="stack_start_timeout_s")

    @model_validator(mode="after")
    def _ports_differ(self) -> StackSettings:
        if self.kafka_port == self.kafka_controller_port:
            raise ValueError("kafka_port and kafka_controller_port must differ")
        return self


SECTIONS: dict[str, type[Section]] = {
    "kafka": KafkaSettings, "topics": TopicSettings, "redis": RedisSettings,
    "worker": WorkerSettings, "learning": LearningSettings, "serving": ServingSettings,
    "stack": StackSettings,
}
