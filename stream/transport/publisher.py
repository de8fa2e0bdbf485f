"""The worker's one producer: dead letters, re-keyed events and the learner's messages."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from stream.contracts.records import ORIGIN_HEADER, Message, signed_origin
from stream.contracts.schemas import DeadLetter
from stream.settings import Settings
from stream.transport.kafka_config import aiokafka_config


class KafkaPublisher:
    """Publishes dead letters, re-keyed events and the learner's messages, waiting for the
    broker's acknowledgement (the idempotent producer keeps each partition's order).

    The key is ``<topic>:<partition>:<offset>`` of the source record, so a letter sent again after
    a crash is recognisable as the same one.
    """

    def __init__(self, settings: Settings, origin_key: bytes) -> None:
        self.settings = settings
        self.origin_key = origin_key  # signs the origin of re-keyed copies
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
            (self.settings.topics.dlq, None, letter.source.encode(), letter.to_json(),
             [("reason", letter.reason.encode()[:1000])])
            for letter in letters])

    async def forward(self, records: Sequence[tuple[str, bytes, bytes, str]]) -> None:
        """(topic, key, value, origin): each copy names its source record, so its owner applies
        it once even when a crash made this worker forward it twice."""
        await self._send([(topic, None, key, value, [
            (ORIGIN_HEADER, signed_origin(origin, value, self.origin_key).encode())])
            for topic, key, value, origin in records])

    async def send(self, messages: Sequence[Message]) -> None:
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
