"""`recstream worker`: a Faust worker whose hot path is the batch consumer service.

The Faust app provides the process: lifecycle, signal handling (SIGTERM stops cleanly), logging
and, with ``--web-port``, its web views for probes. The events are consumed in batches by
:class:`~stream.transport.consumer.BatchConsumerService` (why not per-event agents: see that module).
"""

from __future__ import annotations

import functools
from typing import Any

import faust
from redis.asyncio import Redis

from models.ranker.serving import LiveRanker
from stream.ingest.ingestor import CountingIngestor, Ingestor
from stream.learning.checkpoint import Checkpoint, Sender
from stream.learning.core import LearnerCore
from stream.learning.shell import Learner
from stream.learning.snapshots import SnapshotCodec, snapshot_key
from stream.ops.http_door import open_door
from stream.ranker.commands import registry
from stream.serving.rules import Rules
from stream.serving.server import EchoServer, Server, Topics
from stream.serving.server import Sender as ServingSender
from stream.settings import Settings
from stream.store.clients import TRANSIENT, async_redis
from stream.store.keys import Keys
from stream.store.learner import RedisLearnerStore
from stream.store.serving import RedisServingStore
from stream.store.state import StateWriter
from stream.transport.consumer import BatchConsumerService, readiness
from stream.transport.control import RankerFollower
from stream.transport.kafka_config import faust_broker_credentials
from stream.transport.partitioner import partition_of
from stream.transport.publisher import KafkaPublisher
from stream.transport.topics import contracts_by_topic, ensure_topics


class WorkerParts:
    """What one worker runs on: one Redis client and one producer, shared by the ingestor and
    the learner, opened and closed by the consumer service."""

    transient = TRANSIENT

    def __init__(self, settings: Settings, ranker: LiveRanker | None = None) -> None:
        self.redis = async_redis(settings.redis)
        # The fleet's one secret: it signs snapshots and the origin of re-keyed copies.
        key = snapshot_key(settings)
        self.publisher = KafkaPublisher(settings, key)
        writer = StateWriter(self.redis, settings.redis.key_prefix,
                             recent_items=settings.worker.recent_items,
                             ttl_s=settings.learning.state_ttl_s)
        self.ingestor: Ingestor | CountingIngestor = (
            CountingIngestor(writer) if settings.worker.noop else
            Ingestor(contracts_by_topic(settings), writer, self.publisher,
                     settings.worker.max_message_bytes, settings.worker.event_time_max_ahead_s,
                     functools.partial(partition_of, partitions=settings.kafka.partitions),
                     settings.topics.user_keyed, key))
        self.learner: Learner | None = None
        self.server: Server | EchoServer | None = None
        if settings.worker.noop:
            self.server = EchoServer(self.publisher, settings.worker.max_message_bytes)
        elif settings.learning.enabled:
            self.learner = build_learner(settings, self.redis, self.publisher, ranker)
            self.server = build_server(settings, self.learner.core, self.redis, self.publisher,
                                       ranker)

    async def open(self) -> None:
        await self.publisher.start()

    async def close(self) -> None:
        await self.publisher.stop()
        await self.redis.aclose()

    async def ping(self) -> None:
        await self.redis.ping()


def build_learner(settings: Settings, client: Redis, sender: Sender,
                  ranker: LiveRanker | None = None) -> Learner:
    learning = settings.learning
    core = LearnerCore(learning, settings.topics, settings.serving.exclude_purchased,
                       functools.partial(partition_of, partitions=settings.kafka.partitions))
    store = RedisLearnerStore(client, Keys(settings.redis.key_prefix), learning.state_ttl_s)
    checkpoint = Checkpoint(sender, store, SnapshotCodec(snapshot_key(settings)))
    return Learner(core, store, checkpoint, snapshot_every_s=learning.snapshot_every_s,
                   publish_every_s=learning.item_vector_publish_s,
                   publish_every_event_s=learning.item_vector_publish_event_s or None,
                   ranker=ranker)


def build_server(settings: Settings, core: LearnerCore, client: Redis, sender: ServingSender,
                 ranker: LiveRanker | None = None) -> Server:
    """The request path over the learner's user shards."""
    serving = settings.serving
    return Server(core.shards.get, core.context.builder,
                  RedisServingStore(client, Keys(settings.redis.key_prefix)), sender,
                  Rules(serving.exclude_purchased, serving.max_per_category),
                  Topics(settings.topics.requests, settings.topics.impressions,
                         serving.log_impressions, serving.log_features),
                  serving.default_deadline_ms, settings.worker.max_message_bytes,
                  functools.partial(partition_of, partitions=settings.kafka.partitions),
                  serving.candidates, ranker)


def create_app(settings: Settings) -> tuple[faust.App, BatchConsumerService, RankerFollower]:
    """The Faust app (process shell and web views), the batch consumer it runs, and the
    follower of ``models.control`` that keeps the consumer's ranker on the live version."""
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
    ranker = LiveRanker()
    service = BatchConsumerService(settings, lambda: WorkerParts(settings, ranker))
    # A worker that cannot load the live version with none loaded falls back on the registry's
    # history (stream/transport/control.py).
    follower = RankerFollower(settings, ranker, registry(settings).earlier)

    @app.page("/stats")
    async def stats(web: Any, request: Any) -> Any:
        return web.json({"batches": service.batches, "records": service.records,
                         "learned": service.learned, "ranker": ranker.version,
                         "ranker_refused": follower.refused})

    open_door(app, settings)

    @app.page("/ready")
    async def ready(web: Any, request: Any) -> Any:
        """200 when the worker does its work now, else 503 with what is wrong (probes)."""
        report = await readiness(service)
        return web.json(report, status=200 if report["ready"] else 503)

    return app, service, follower


def run_worker(settings: Settings) -> int:
    """Run one worker until it is stopped (SIGTERM or Ctrl-C stop it cleanly)."""
    ensure_topics(settings)
    (settings.stack.state_dir / "faust").mkdir(parents=True, exist_ok=True)
    app, service, follower = create_app(settings)
    worker = faust.Worker(app, service, follower, loglevel=settings.worker.log_level, quiet=True)
    worker.execute_from_commandline()
    return 0
