"""The Faust worker: one app, one thin agent per ingested topic, each calling :class:`Ingestor`.

Agents batch with ``take_events`` (size ``batch_size`` or age ``batch_max_age_s``), so Redis sees
one transaction per batch and Faust acknowledges offsets only after the batch is applied. Faust's
own offset commits are an optimisation; correctness comes from the offsets stored with the state
(see stream/state.py), so a SIGKILLed worker loses and repeats nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import faust
from redis.asyncio import Redis

from stream.ingest import Ingestor
from stream.kafka_config import faust_broker_credentials
from stream.schemas import DeadLetter
from stream.settings import Settings
from stream.state import Record, StateWriter
from stream.topics import contracts_by_topic, ensure_topics

def redis_client(settings: Settings) -> Redis:
    """The asyncio Redis client every worker component shares (connects lazily)."""
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    return Redis.from_url(settings.redis_url, username=settings.redis_username,
                          password=password)


class FaustDeadLetters:
    """Publishes dead letters on the DLQ topic and waits for the broker's acknowledgement.

    The key is ``<topic>:<partition>:<offset>`` of the source record, so a letter sent again after
    a crash is recognisable as the same one (and compaction-friendly if an operator wants that).
    """

    def __init__(self, topic: faust.TopicT) -> None:
        self.topic = topic

    async def publish(self, letters: Sequence[DeadLetter]) -> None:
        pending = []
        for letter in letters:
            key = f"{letter.source_topic}:{letter.partition}:{letter.offset}".encode()
            pending.append(await self.topic.send(
                key=key, value=letter.to_json(),
                headers={"reason": letter.reason.encode()[:1000]}))
        await asyncio.gather(*pending)


def create_app(settings: Settings) -> faust.App:
    """Build the worker app for these settings; nothing connects until it starts."""
    brokers = ";".join(f"kafka://{b.strip()}" for b in settings.kafka_bootstrap.split(","))
    web: dict[str, Any] = {"web_enabled": False}
    if settings.worker_web_port is not None:
        web = {"web_enabled": True, "web_port": settings.worker_web_port,
               "web_bind": "127.0.0.1"}
    app = faust.App(
        settings.app_id,
        broker=brokers,
        broker_credentials=faust_broker_credentials(settings),
        store="memory://",
        autodiscover=False,
        datadir=str(settings.state_dir / "faust"),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # Faust commits acknowledged offsets this often; our own offsets (stored with the state)
        # make a lagging commit cost only skipped re-reads after a crash, never double counts.
        broker_commit_interval=1.0,
        broker_session_timeout=settings.worker_session_timeout_s,
        broker_heartbeat_interval=settings.worker_session_timeout_s / 3,
        **web,
    )
    dlq = app.topic(settings.topic_dlq, key_serializer="raw", value_serializer="raw",
                    internal=False)
    runtime = _Runtime(settings, dlq)

    for topic_name in contracts_by_topic(settings):
        topic = app.topic(topic_name, key_serializer="raw", value_serializer="raw")

        async def ingest(stream: faust.StreamT) -> None:
            ingestor = runtime.ingestor()
            async for events in stream.take_events(settings.batch_size,
                                                   within=settings.batch_max_age_s):
                await ingestor.process([_record(e) for e in events])

        app.agent(topic, name=f"ingest.{topic_name}")(ingest)
    return app


class _Runtime:
    """The worker's collaborators, built once per app when the first agent starts."""

    def __init__(self, settings: Settings, dlq: faust.TopicT) -> None:
        self.settings = settings
        self.dlq = dlq
        self._ingestor: Ingestor | None = None

    def ingestor(self) -> Ingestor:
        if self._ingestor is None:
            s = self.settings
            writer = StateWriter(redis_client(s), s.key_prefix, recent_items=s.recent_items)
            self._ingestor = Ingestor(contracts_by_topic(s), writer, FaustDeadLetters(self.dlq),
                                      s.max_message_bytes)
        return self._ingestor


def _record(event: faust.EventT) -> Record:
    message = event.message
    return Record(message.topic, message.partition, message.offset, message.key, message.value)


def run_worker(settings: Settings) -> int:
    """Run one worker until it is stopped (SIGTERM or Ctrl-C stop it cleanly)."""
    ensure_topics(settings)
    (settings.state_dir / "faust").mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()
    return 0
