"""A benchmark runs in topics, keys and a state folder of its own (Settings.namespaced) and
removes them after."""

from __future__ import annotations

import contextlib
import shutil
import sys

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from stream.settings import Settings
from stream.store.reads import StateReader
from stream.transport.kafka_config import client_config
from stream.transport.topics import topic_specs


def clean_up(settings: Settings) -> None:
    """Delete the run's topics, every key under its prefix (and its -noop, -parts ones) and its
    state folder (its workers' logs and snapshots), but not the folder of a failed run: called
    from a ``finally`` while the run's exception propagates, it leaves the logs that say why."""
    admin = AdminClient(client_config(settings.kafka))
    for future in admin.delete_topics([spec.name for spec in topic_specs(settings)]).values():
        with contextlib.suppress(KafkaException):  # one never created is fine to miss
            future.result(timeout=30)
    StateReader(settings.redis).delete_prefixed(settings.redis.key_prefix)
    if sys.exception() is None:
        shutil.rmtree(settings.stack.state_dir, ignore_errors=True)
