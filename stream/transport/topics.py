"""The topics recstream owns, their partition counts and configs, and their creation.

Keyed event topics share one partition count so that a user's clicks, purchases, impressions
and recommendation requests land on the same partition number (DESIGN decision 2). Catalogue and
profile topics are compacted: the latest message per key is the truth.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from confluent_kafka.admin import AdminClient, NewTopic

from stream.contracts.schemas import (
    ClickEvent,
    Event,
    Impression,
    ItemUpsert,
    PurchaseEvent,
    UserProfile,
    WeatherEvent,
)
from stream.settings import Settings
from stream.transport.kafka_config import client_config

# A week of events keeps a replay window for recovery and re-training; the DLQ keeps a month so
# an operator has time to look.
EVENT_RETENTION_MS = 7 * 24 * 3600 * 1000
DLQ_RETENTION_MS = 30 * 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """Every topic the project needs, derived from the settings."""
    events = {"cleanup.policy": "delete", "retention.ms": str(EVENT_RETENTION_MS)}
    compacted = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}
    # Input topics carry the broker's append time, not the producer's: event time is checked
    # against it (a producer can write any timestamp, the broker's clock it cannot).
    appended = {"message.timestamp.type": "LogAppendTime"}
    n = settings.kafka.partitions
    return [
        TopicSpec(settings.topics.clicks, n, events | appended),
        TopicSpec(settings.topics.purchases, n, events | appended),
        TopicSpec(settings.topics.weather, n, events | appended),
        TopicSpec(settings.topics.items, n, compacted | appended),
        TopicSpec(settings.topics.users, n, compacted | appended),
        TopicSpec(settings.topics.dlq, n, {"retention.ms": str(DLQ_RETENTION_MS)}),
        TopicSpec(settings.topics.impressions, n, events | appended),
        # A request is worth answering for seconds; an hour covers any outage worth waiting out.
        TopicSpec(settings.topics.requests, n,
                  {"cleanup.policy": "delete", "retention.ms": str(3600 * 1000)}),
        TopicSpec(settings.topics.responses, n,
                  {"cleanup.policy": "delete", "retention.ms": str(3600 * 1000)}),
        # A day of item steps is plenty: their consumers are the workers themselves, seconds
        # behind; a restored item shard replays from its snapshot (at most snapshot_every_s).
        TopicSpec(settings.topics.item_steps, n,
                  {"cleanup.policy": "delete", "retention.ms": str(24 * 3600 * 1000)}),
        TopicSpec(settings.topics.item_vectors, n, compacted),
        TopicSpec(settings.topics.item_trending, n, compacted),
        # One partition, one key: the latest announcement is the live ranker, and compaction
        # keeps it for a worker that starts later.
        TopicSpec(settings.topics.control, 1, compacted),
        # Training data is read by a batch job, days later: kept as long as the events.
        TopicSpec(settings.topics.examples, n, events),
    ]


def contracts_by_topic(settings: Settings) -> dict[str, type[Event]]:
    """Which contract each ingested topic carries (the producer routes by the inverse)."""
    return {
        settings.topics.clicks: ClickEvent,
        settings.topics.purchases: PurchaseEvent,
        settings.topics.weather: WeatherEvent,
        settings.topics.items: ItemUpsert,
        settings.topics.users: UserProfile,
        settings.topics.impressions: Impression,
    }


def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Create the missing topics; return the names created. Existing topics are left as they are."""
    admin = AdminClient(client_config(settings.kafka))
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    missing = [s for s in topic_specs(settings) if s.name not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [
            NewTopic(s.name, num_partitions=s.partitions,
                     replication_factor=settings.kafka.replication_factor, config=s.config)
            for s in missing
        ],
        operation_timeout=timeout_s,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result(timeout=timeout_s)
            created.append(name)
        except Exception as exc:  # a concurrent creator is fine; anything else is not
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    # Created is not yet known to every metadata request: a client started at once (a reply
    # consumer checking its topic) could be told it does not exist.
    deadline = time.monotonic() + timeout_s
    while missing_names := set(created) - set(admin.list_topics(timeout=timeout_s).topics):
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics created but not listed after {timeout_s:.0f} s: "
                               f"{', '.join(sorted(missing_names))}")
        time.sleep(0.05)
    return created
