"""The ingestion step as a plain function of a batch: decode, dead-letter the bad, apply the good.

It knows nothing of Kafka clients; the worker's batch consumer hands it batches of
:class:`~stream.store.state.Record`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol

from stream.contracts.codec import InvalidMessage, decode
from stream.contracts.records import Decoded, Record, dead_letter, verified_origin
from stream.contracts.schemas import DeadLetter, Event
from stream.store.state import StateWriter


class Publisher(Protocol):
    """Where the ingestor sends what it does not apply itself, durably (awaiting the broker)."""

    async def dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Deliver dead letters to the DLQ topic."""

    async def forward(self, records: Sequence[tuple[str, bytes, bytes, str]]) -> None:
        """Re-publish (topic, key, value, origin) so the owner of the right key applies it."""


class CountingIngestor:
    """Does nothing with a batch but count it in the stats hash: a worker with it measures
    what consuming alone costs (`recstream bench ingest`)."""

    def __init__(self, writer: StateWriter) -> None:
        self.writer = writer

    async def stored_offsets(self, partitions: Sequence[tuple[str, int]]
                             ) -> dict[tuple[str, int], int]:
        return await self.writer.stored_offsets(partitions)

    async def process(self, records: Sequence[Record]) -> list[Decoded]:
        await self.writer.count("noop", len(records))
        return []


class Ingestor:
    """Turns batches of raw records into state, never dropping one.

    Bad records become dead letters. A valid event whose Kafka key is not its partition key (a
    producer that forgot the key, or used another field) sits on a partition whose owner must not
    write that user's state (one writer per key): it is re-published keyed correctly, and its
    owner applies it. So is a user-keyed event on another partition than Kafka's default
    partitioner gives its key (``partition_of``; librdkafka's default partitioner differs): the
    shard of that partition learns the user and answers their requests (DESIGN decision 2).
    An event dated after the broker appended it is dated when the broker did (a producer's
    clock running ahead), and one dated more than ``max_ahead_s`` after is a dead letter.
    """

    def __init__(self, contracts: Mapping[str, type[Event]], writer: StateWriter,
                 publisher: Publisher, max_message_bytes: int,
                 max_ahead_s: float = 3600.0, partition_of: Callable[[str], int] | None = None,
                 user_keyed: Collection[str] = (), origin_key: bytes | None = None) -> None:
        self.contracts = contracts
        self.writer = writer
        self.publisher = publisher
        self.max_message_bytes = max_message_bytes
        self.max_ahead_ms = max_ahead_s * 1000
        self.partition_of = partition_of
        self.user_keyed = frozenset(user_keyed)
        # The fleet's key: a re-keyed copy's origin header must be signed with it (None: the
        # header is trusted, for tests of the parts alone).
        self.origin_key = origin_key

    async def stored_offsets(self, partitions: Sequence[tuple[str, int]]
                             ) -> dict[tuple[str, int], int]:
        """The next offset to read per partition, for those that have state."""
        return await self.writer.stored_offsets(partitions)

    def decode(self, record: Record) -> Decoded:
        if record.origin is not None and self.origin_key is not None:
            origin = verified_origin(record.origin, record.value, self.origin_key)
            record = replace(record, origin=origin)
            if origin is None:
                return Decoded(record, None, "forged_origin: its recstream-origin header is not "
                                             "signed with the fleet's key for these bytes")
        try:
            event = decode(self.contracts[record.topic], record.value,
                           max_bytes=self.max_message_bytes)
        except InvalidMessage as exc:
            return Decoded(record, None, exc.reason)
        redated = False
        if record.timestamp_ms is not None:
            ahead_ms = event.ts.timestamp() * 1000 - record.timestamp_ms
            if ahead_ms > self.max_ahead_ms:
                return Decoded(record, None, f"ts_in_future: ts {event.ts.isoformat()} is "
                                             f"{ahead_ms / 1000:.0f} s after the broker's "
                                             f"timestamp (at most {self.max_ahead_ms / 1000:.0f})")
            if ahead_ms > 0:
                event, redated = _at_append_time(event, record.timestamp_ms), True
        if record.key is None or record.key.decode("utf-8", "replace") != event.key or (
                self.partition_of is not None and record.topic in self.user_keyed
                and self.partition_of(event.key) != record.partition):
            return Decoded(record, None, misrouted=event)
        return Decoded(record, event, redated=redated)

    async def process(self, records: Sequence[Record]) -> list[Decoded]:
        """Apply a batch to the state; return every record decoded (learners filter by their
        own offsets, which may lag the state's after a restore)."""
        decoded = [self.decode(r) for r in records]
        await self.writer.apply(decoded, self._publish)
        origins = sorted({d.record.origin for d in decoded
                          if d.record.origin is not None and d.event is not None})
        if not origins:
            return decoded
        # A copy forwarded twice (its forwarder crashed between the forward and its commit)
        # is applied once: the learners must not learn the other copy either, now or on replay.
        applied = await self.writer.applied_copies(origins)
        return [Decoded(d.record, None, f"duplicate of {applied[d.record.origin]}")
                if d.record.origin in applied and d.event is not None
                and applied[d.record.origin] != d.record.source else d
                for d in decoded]

    async def _publish(self, fresh: list[Decoded]) -> None:
        letters = [dead_letter(d.record, d.reason or "invalid")
                   for d in fresh if d.event is None and d.misrouted is None]
        if letters:
            await self.publisher.dead_letters(letters)
        forwards = [(d.record.topic, d.misrouted.key.encode(), d.record.value or b"",
                     d.record.origin or d.record.source)
                    for d in fresh if d.misrouted is not None]
        if forwards:
            await self.publisher.forward(forwards)


def _at_append_time(event: Event, appended_ms: int) -> Event:
    """An event dated after the broker appended it, dated when the broker did: it cannot have
    happened later than that. A producer's clock running ahead is forgiven up to the ingestor's
    ``max_ahead_s``, but what it wrote must not move anything ahead of the world: a user
    shard's clock is the latest event time it learned, so one click an hour ahead would date
    every impression, expire every open label window and age every trend by an hour."""
    return event.model_copy(update={"ts": datetime.fromtimestamp(appended_ms / 1000, tz=UTC)})
