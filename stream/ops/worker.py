"""`recstream worker`: a Faust worker whose hot path is the batch consumer service.

The Faust app provides the process: lifecycle, signal handling (SIGTERM stops cleanly), logging
and, with ``--web-port``, its web views for probes. The events are consumed in batches by
:class:`~stream.transport.consumer.BatchConsumerService` (why not per-event agents: see that module).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import faust
from aiokafka import AIOKafkaProducer

from stream.transport.consumer import BatchConsumerService
from stream.ingest.ingestor import CountingIngestor, Ingestor
from stream.transport.kafka_config import aiokafka_config, faust_broker_credentials
from stream.contracts.schemas import DeadLetter
from stream.learning.shell import Learner
from stream.store.clients import async_redis
from stream.settings import Settings
from stream.store.snapshots import SnapshotCodec, snapshot_key
from stream.store.state import StateWriter
from stream.transport.topics import contracts_by_topic, ensure_topics


class KafkaPublisher:
    """Publishes dead letters, re-keyed events and the learner's messages, waiting for the
    broker's acknowledgement (the idempotent producer keeps each partition's order).

    The key is ``<topic>:<partition>:<offset>`` of the source record, so a letter sent again after
    a crash is recognisable as the same one.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        self.producer = AIOKafkaProducer(acks="all", enable_idempotence=True,
                                         **aiokafka_config(self.settings.kafka))
        await self.producer.start()

    async def stop(self) -> None:
        if self.producer is not None:
            await self.producer.stop()

    async def dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        await self._send([
            (self.settings.topics.dlq, None,
             f"{letter.source_topic}:{letter.partition}:{letter.offset}".encode(),
             letter.to_json(), [("reason", letter.reason.encode()[:1000])])
            for letter in letters])

    async def forward(self, records: Sequence[tuple[str, bytes, bytes]]) -> None:
        await self._send([(topic, None, key, value, []) for topic, key, value in records])

    async def send(self, messages: Sequence[tuple[str, int | None, bytes, bytes | None]]
                   ) -> None:
        """(topic, partition or None for the key's, key, value or None for a tombstone)."""
        await self._send([(topic, partition, key, value, [])
                          for topic, partition, key, value in messages])

    async def _send(self, messages: Sequence[tuple[str, int | None, bytes, bytes | None,
                                                   list[tuple[str, bytes]]]]) -> None:
        assert self.producer is not None, "start() first"
        pending = [await self.producer.send(topic, value, key=key, partition=partition,
                                            headers=headers)
                   for topic, partition, key, value, headers in messages]
        await asyncio.gather(*pending)


def build_ingestor(settings: Settings) -> Ingestor | CountingIngestor:
    writer = StateWriter(async_redis(settings.redis), settings.redis.key_prefix,
                         recent_items=settings.worker.recent_items, ttl_s=settings.learning.state_ttl_s)
    if settings.worker.noop:
        return CountingIngestor(writer)
    return Ingestor(contracts_by_topic(settings), writer, KafkaPublisher(settings),
                    settings.worker.max_message_bytes)


def build_learner(settings: Settings) -> Learner:
    return Learner(settings, async_redis(settings.redis), SnapshotCodec(snapshot_key(settings)),
                   KafkaPublisher(settings))


def create_app(settings: Settings) -> tuple[faust.App, BatchConsumerService]:
    """The Faust app (process shell and web views) and the batch consumer it runs."""
    web: dict[str, Any] = {"web_enabled": False}
    if settings.worker.web_port is not None:
        web = {"web_enabled": True, "web_port": settings.worker.web_port,
               "web_bind": settings.worker.web_bind}
    app = faust.App(
        f"{settings.worker.app_id}-worker",
        broker=";".join(f"kafka://{b.strip()}" for b in settings.kafka.bootstrap.split(",")),
        broker_credentials=faust_broker_credentials(settings.kafka),
        store="memory://",
        autodiscover=False,
        datadir=str(settings.stack.state_dir / "faust"),
        **web,
    )
    # No Faust agents: Faust's own consumer group would sit idle, so only its web side runs.
    app.producer_only = True
    service = BatchConsumerService(
        settings, lambda: build_ingestor(settings),
        (lambda: build_learner(settings)) if settings.learning.enabled and not settings.worker.noop
        else None)

    @app.page("/stats")
    async def stats(web: Any, request: Any) -> Any:
        return web.json({"batches": service.batches, "records": service.records,
                         "learned": service.learned})

    return app, service


def run_worker(settings: Settings) -> int:
    """Run one worker until it is stopped (SIGTERM or Ctrl-C stop it cleanly)."""
    ensure_topics(settings)
    (settings.stack.state_dir / "faust").mkdir(parents=True, exist_ok=True)
    app, service = create_app(settings)
    worker = faust.Worker(app, service, loglevel=settings.worker.log_level, quiet=True)
    worker.execute_from_commandline()
    return 0
