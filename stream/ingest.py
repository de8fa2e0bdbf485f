"""The ingestion step as a plain function of a batch: decode, dead-letter the bad, apply the good.

It knows nothing of Faust; the worker's agents hand it batches of :class:`~stream.state.Record`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from stream.codec import InvalidMessage, decode
from stream.schemas import DeadLetter, Event
from stream.state import Decoded, Record, StateWriter


class DeadLetterSink(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, letters: Sequence[DeadLetter]) -> None:
        """Deliver the dead letters durably (return only once the broker has them)."""


class Ingestor:
    """Turns batches of raw records into state, never dropping one: bad ones become dead letters."""

    def __init__(self, contracts: Mapping[str, type[Event]], writer: StateWriter,
                 dead_letters: DeadLetterSink, max_message_bytes: int) -> None:
        self.contracts = contracts
        self.writer = writer
        self.dead_letters = dead_letters
        self.max_message_bytes = max_message_bytes

    async def start(self) -> None:
        await self.dead_letters.start()

    async def stop(self) -> None:
        await self.dead_letters.stop()
        await self.writer.client.aclose()

    def decode(self, record: Record) -> Decoded:
        try:
            event = decode(self.contracts[record.topic], record.value,
                           max_bytes=self.max_message_bytes)
        except InvalidMessage as exc:
            return Decoded(record, None, exc.reason)
        return Decoded(record, event)

    async def process(self, records: Sequence[Record]) -> list[Decoded]:
        """Apply a batch; return the records that were new (not applied by an earlier attempt)."""
        return await self.writer.apply([self.decode(r) for r in records], self._dead_letter)

    async def _dead_letter(self, fresh: list[Decoded]) -> None:
        letters = [
            DeadLetter.wrap(d.record.value or b"", topic=d.record.topic,
                            partition=d.record.partition, offset=d.record.offset,
                            reason=d.reason or "invalid", key=d.record.key)
            for d in fresh if d.event is None
        ]
        if letters:
            await self.dead_letters.publish(letters)
