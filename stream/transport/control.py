"""Announcing a live ranker version, and following the announcements inside a worker.

:func:`announce` writes the version to ``models.control`` (stream/contracts/control.py).
:class:`RankerFollower` runs in every worker beside the batch consumer: it reads the topic from
the beginning, and for the latest announcement loads the artefact in a thread (reading the file,
checking its sha256 and its inputs, building the onnxruntime session take tens of ms that must not
stall the event loop), then swaps :class:`~models.ranker.serving.LiveRanker` between two requests.
A refused artefact is logged with its reason and the version serving now stays.

A worker that starts when the latest announcement names an artefact it refuses has no old
version in memory to keep. It then loads the newest earlier good version: the versions live
before, newest first, as the registry's history gives them (``earlier``, injected: this room
reaches no Redis). The history, not the topic's earlier announcements: compaction keeps only
the latest message of the key, and the history is what `ranker rollback` restores, so an
operator and a restarting worker agree on what "the version before" is. Each announcement is
tried once, and a fallback skips every version this worker refused: nothing is retried in a loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from confluent_kafka import Producer
from mode import Service
from pydantic import ValidationError

from models.ranker.serving import ArtefactRefused, LiveRanker, RankerSession
from stream.contracts.control import RANKER_KEY, RankerAnnouncement
from stream.settings import Settings
from stream.transport.kafka_config import aiokafka_config, client_config
from stream.transport.topics import ensure_topics

log = logging.getLogger(__name__)


def announce(settings: Settings, message: RankerAnnouncement, timeout_s: float = 10.0) -> None:
    ensure_topics(settings)  # compacted, one partition: not what a broker would auto-create
    producer = Producer(client_config(settings.kafka, acks="all"))
    producer.produce(settings.topics.control, key=RANKER_KEY,
                     value=message.model_dump_json().encode())
    if producer.flush(timeout_s) != 0:
        raise TimeoutError(f"announcement not acknowledged within {timeout_s} s")


def load(message: RankerAnnouncement) -> RankerSession | None:
    """The session an announcement names (None: no ranker); ArtefactRefused if it must not
    serve."""
    if message.version is None:
        return None
    if message.path is None or message.sha256 is None:
        raise ArtefactRefused(f"ranker {message.version}: announced without path or sha256")
    path = Path(message.path)
    try:
        onnx = path.read_bytes()
    except OSError as exc:
        raise ArtefactRefused(f"ranker {message.version}: cannot read {path}: {exc}") from exc
    return RankerSession(message.version, onnx, message.sha256)


class RankerFollower(Service):
    """Follows ``models.control`` and keeps ``live`` on the latest acceptable version;
    ``earlier`` gives the versions live before the latest, newest first (see the module)."""

    def __init__(self, settings: Settings, live: LiveRanker,
                 earlier: Callable[[], list[RankerAnnouncement]] = list,
                 **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.settings = settings
        self.live = live
        self.earlier = earlier
        self.refused: list[str] = []  # the reasons, newest last (for tests and /stats)
        self.refused_versions: set[str] = set()
        self.consumer: AIOKafkaConsumer | None = None

    async def on_start(self) -> None:
        self.consumer = AIOKafkaConsumer(enable_auto_commit=False, group_id=None,
                                         **aiokafka_config(self.settings.kafka))
        await self.consumer.start()
        partition = TopicPartition(self.settings.topics.control, 0)
        self.consumer.assign([partition])
        await self.consumer.seek_to_beginning(partition)

    async def on_stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()

    @Service.task
    async def _follow(self) -> None:
        assert self.consumer is not None
        while not self.should_stop:
            fetched = await self.consumer.getmany(timeout_ms=500)
            messages = [m for batch in fetched.values() for m in batch if m.value is not None]
            if messages:  # only the latest matters: the ones before it were superseded
                await self.take(messages[-1].value)

    async def take(self, value: bytes) -> None:
        try:
            message = RankerAnnouncement.model_validate_json(value)
        except ValidationError as exc:
            self._refuse(f"unreadable announcement on {self.settings.topics.control}: {exc}")
            return
        if message.version == self.live.version:
            return
        reason = await self._try(message)
        if reason is None:
            return
        if self.live.version is not None:
            self._refuse(f"{reason}; ranker {self.live.version} stays live")
            return
        fallback = await self._fall_back()
        self._refuse(f"{reason}; none was live yet: " + (
            f"fell back to ranker {fallback}, the newest earlier good version" if fallback
            else "no earlier good version, the River model ranks"))

    async def _try(self, message: RankerAnnouncement) -> str | None:
        """Load and swap in ``message``'s version; the reason it was refused, else None."""
        try:
            session = await asyncio.get_running_loop().run_in_executor(None, load, message)
        except ArtefactRefused as exc:
            self.refused_versions.add(str(message.version))
            return str(exc)
        before = self.live.version
        self.live.swap(session)
        log.info("ranker %s live (was %s)", message.version or "none (River)",
                 before or "none (River)")
        return None

    async def _fall_back(self) -> str | None:
        """The newest earlier version that loads, now live; None if none does."""
        try:  # the history is read in a thread: the worker's reader is a blocking client
            earlier = await asyncio.get_running_loop().run_in_executor(None, self.earlier)
        except Exception as exc:  # whatever the injected reader raises, the worker serves on
            log.error("cannot read the earlier ranker versions: %r", exc)
            return None
        for candidate in earlier:
            if candidate.version is None or candidate.version in self.refused_versions:
                continue
            reason = await self._try(candidate)
            if reason is None:
                return candidate.version
            self._refuse(f"{reason}; trying an earlier version")
        return None

    def _refuse(self, reason: str) -> None:
        log.error("REFUSED %s", reason)
        self.refused.append(reason)
