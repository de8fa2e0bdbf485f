"""Kafka records as the worker hands them around, before and after decoding: plain data, so the
ingestor, the state writer and the learner need no Kafka client to take them."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from stream.contracts.schemas import DeadLetter, Event

# The header a re-keyed copy carries its source record in, signed: "<origin>|<mac>".
ORIGIN_HEADER = "recstream-origin"


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka message as the worker received it, before decoding."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    # When the broker appended it (the event topics use LogAppendTime): what event time is
    # checked against, since any producer can write any ``ts``.
    timestamp_ms: int | None = None
    # A re-keyed copy's source record, "<topic>:<partition>:<offset>" (header ORIGIN_HEADER):
    # its owner applies each source record once, however often it was forwarded.
    origin: str | None = None

    @property
    def source(self) -> str:
        """This record as an origin."""
        return f"{self.topic}:{self.partition}:{self.offset}"


@dataclass(frozen=True, slots=True)
class Decoded:
    """A record and what became of it: an event to apply, the reason it is a dead letter, or a
    valid event that arrived under the wrong key (``misrouted``) and is forwarded, not applied.
    ``redated``: the event was dated after the broker appended it, and now is dated then."""

    record: Record
    event: Event | None
    reason: str | None = None
    misrouted: Event | None = None
    redated: bool = False


def dead_letter(record: Record, reason: str) -> DeadLetter:
    """The record, kept for an operator with the reason it could not be used."""
    return DeadLetter.wrap(record.value or b"", topic=record.topic, partition=record.partition,
                           offset=record.offset, reason=reason, key=record.key)


# An outgoing message: (topic, partition or None for the key's, key, value or None for a
# tombstone).
Message = tuple[str, int | None, bytes, bytes | None]


def signed_origin(origin: str, value: bytes | None, key: bytes) -> str:
    """The origin header of a re-keyed copy: its source record, and a MAC binding it to this
    copy's bytes under the fleet's key.

    A worker applies a source record once, whichever copy comes first: an unsigned header would
    let any producer name another record as its source and so suppress it, or stand in for it.

    >>> header = signed_origin("shop.clicks:3:17", b"{}", b"k" * 32)
    >>> verified_origin(header, b"{}", b"k" * 32)
    'shop.clicks:3:17'
    >>> verified_origin(header, b"{ }", b"k" * 32) is None  # the header moved to other bytes
    True
    """
    return f"{origin}|{_mac(origin, value, key)}"


def verified_origin(header: str, value: bytes | None, key: bytes) -> str | None:
    """The origin a header names, if the fleet's key signed it for these bytes; else None."""
    origin, _, mac = header.rpartition("|")
    if origin and hmac.compare_digest(mac, _mac(origin, value, key)):
        return origin
    return None


def _mac(origin: str, value: bytes | None, key: bytes) -> str:
    return hmac.new(key, origin.encode() + b"\0" + (value or b""), hashlib.sha256).hexdigest()
