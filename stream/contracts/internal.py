"""The workers' internal messages: item steps and the item broadcast, encoded compactly.

* ``learn.item-steps``, keyed by the source shard, sent to the item's partition: one message per
  target partition per batch (:class:`StepMessage`). User vectors travel as the rows of one
  base64 float32 matrix (each distinct vector once) that the steps refer to by index.
* ``model.item-vectors``, key the item id: its TTL clock (float64 seconds, little-endian) then
  its packed float32 vector; a removed (expired) item is a tombstone (no value).
* ``model.item-trending``, key ``[item shard, scope]`` as JSON: that shard's part of the scope
  (:class:`ScopeBest`) as JSON; a tombstone once the shard dropped the scope (it keeps a bounded
  number of them), which compaction then removes with the key.

>>> vec = np.zeros(2, dtype=np.float32)
>>> message = decode_steps(encode_steps(source=3, watermark={"clicks": 11}, steps=[
...     ItemStep("tea", ts=5.0, weight=1.0, user_vec=vec, origin=("clicks", 10))]))
>>> message.source, message.watermark, message.steps[0].origin
(3, {'clicks': 11}, ('clicks', 10))
>>> decode_vector(encode_vector(np.array([0.5, -1.0], dtype=np.float32), 1700000000.0))
(array([ 0.5, -1. ], dtype=float32), 1700000000.0)
>>> part = ScopeBest(landmark=0.0, mass=7.5, best={"tea": 2.5}, gone=["rum"])
>>> decode_scope_key(scope_key(3, "location=Leeds")), decode_scope(encode_scope(part)) == part
((3, 'location=Leeds'), True)

Any worker may find any bytes on these topics (a bug, an operator's test message), so decoding
checks every field and raises :class:`InvalidInternal`: the record becomes a dead letter and
the worker carries on, where a malformed record used to stop every worker that read it.

>>> decode_steps(b'{"src": 0}')
Traceback (most recent call last):
...
stream.contracts.internal.InvalidInternal: invalid item-step message: KeyError('wm')
"""

from __future__ import annotations

import base64
import json
import math
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from models.embeddings import ItemStep, pack, unpack
from stream.contracts.records import Record

_CLOCK = struct.Struct("<d")
# Vectors are at most this long (the models use 32 factors): a bound on what a message may ask a
# worker to allocate.
MAX_DIMENSIONS = 1024


class InvalidInternal(ValueError):
    """An internal message that cannot be used; the message says why in one line."""


def _checked(what: str, decode: Any) -> Any:
    """Run ``decode``; any failure to parse or to match the shape is an InvalidInternal."""
    try:
        return decode()
    except InvalidInternal:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError,
            struct.error) as exc:
        raise InvalidInternal(f"invalid {what}: {exc!r}") from None


@dataclass(frozen=True)
class StepMessage:
    """One message of the item-steps topic: a source shard's steps for one target partition."""

    source: int  # the user partition whose batch produced the steps
    watermark: dict[str, int]  # source topic -> every event below it learned, its steps sent
    steps: list[ItemStep]  # each with origin (topic, offset) of its event


def encode_steps(source: int, watermark: Mapping[str, int], steps: Iterable[ItemStep]) -> bytes:
    rows: dict[int, int] = {}  # id of a user vector -> its row
    vectors: list[np.ndarray] = []
    doc_steps = []
    for s in steps:
        row = -1
        if s.user_vec is not None:
            row = rows.get(id(s.user_vec), -1)
            if row < 0:
                row = rows[id(s.user_vec)] = len(vectors)
                vectors.append(s.user_vec)
        topic, offset = s.origin if s.origin is not None else ("", -1)
        doc_steps.append([topic, offset, s.item_id, s.ts, s.weight, row, s.location,
                          s.condition])
    matrix = pack(np.concatenate(vectors)) if vectors else b""
    return json.dumps({"src": source, "wm": dict(watermark), "dim": len(vectors[0]) if vectors
                       else 0, "vecs": base64.b64encode(matrix).decode(), "steps": doc_steps},
                      separators=(",", ":")).encode()


def decode_steps(value: bytes) -> StepMessage:
    return _checked("item-step message", lambda: _decode_steps(value))


def _decode_steps(value: bytes) -> StepMessage:
    doc = json.loads(value)
    source, watermark, dim = doc["src"], doc["wm"], doc["dim"]
    if not (_is_int(source) and isinstance(watermark, dict)
            and all(isinstance(t, str) and _is_int(o) for t, o in watermark.items())):
        raise ValueError("source or watermark of the wrong type")
    if not (_is_int(dim) and 0 <= dim <= MAX_DIMENSIONS):
        raise ValueError(f"dim {dim!r} out of range")
    vectors = (unpack(base64.b64decode(doc["vecs"], validate=True)).reshape(-1, dim)
               if dim else None)
    if vectors is not None and not np.isfinite(vectors).all():
        raise ValueError("a user vector is not finite")
    steps = []
    for topic, offset, item, ts, weight, row, location, condition in doc["steps"]:
        if not (isinstance(topic, str) and _is_int(offset) and isinstance(item, str)
                and _finite(ts) and _finite(weight) and _is_int(row)
                and all(x is None or isinstance(x, str) for x in (location, condition))):
            raise ValueError("a step field of the wrong type")
        if row >= 0 and (vectors is None or row >= len(vectors)):
            raise ValueError(f"row {row} is not in the message")
        steps.append(ItemStep(item, float(ts), float(weight),
                              None if row < 0 or vectors is None else vectors[row],
                              (topic, offset), location, condition))
    return StepMessage(source, watermark, steps)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class ScopeBest(NamedTuple):
    """An item shard's part of a trending scope, as of its landmark. Item shards hold disjoint
    items, so the union of their kept best holds each scope's top 100."""

    landmark: float
    mass: float  # the stored total over all of the shard's items in the scope
    best: dict[str, float]  # its kept best items' stored sums
    gone: list[str]  # items it expired since its last message


VectorChange = tuple[str, tuple[np.ndarray, float] | None]  # item, (vector, TTL clock)
ScopeChange = tuple[int, str, ScopeBest | None]  # item shard, scope, its part (None: dropped)


@dataclass
class Changes:
    """What one poll of the broadcast brought, oldest first (a later change of a key wins), and
    the records that could not be decoded (to become dead letters)."""

    vectors: list[VectorChange] = field(default_factory=list)
    scopes: list[ScopeChange] = field(default_factory=list)
    rejected: list[tuple[Record, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.vectors or self.scopes or self.rejected)


def decode_broadcast(records: Iterable[Record], vectors_topic: str) -> Changes:
    """The broadcast's records (of ``vectors_topic`` or the trending one) as changes."""
    changes = Changes()
    for record in records:
        try:
            if record.key is None:
                raise InvalidInternal("invalid broadcast message: no key")
            if record.topic == vectors_topic:
                item = _checked("item id", lambda key=record.key: key.decode())
                vector = None if record.value is None else decode_vector(record.value)
                changes.vectors.append((item, vector))
            else:
                source, scope = decode_scope_key(record.key)
                changes.scopes.append((source, scope, None if record.value is None
                                       else decode_scope(record.value)))
        except InvalidInternal as exc:
            changes.rejected.append((record, str(exc)))
    return changes


def encode_vector(vec: np.ndarray, last_seen: float) -> bytes:
    return _CLOCK.pack(last_seen) + pack(vec)


def decode_vector(value: bytes) -> tuple[np.ndarray, float]:
    return _checked("item vector", lambda: _decode_vector(value))


def _decode_vector(value: bytes) -> tuple[np.ndarray, float]:
    vector, clock = unpack(value[_CLOCK.size:]), _CLOCK.unpack_from(value)[0]
    if not (0 < len(vector) <= MAX_DIMENSIONS and np.isfinite(vector).all()
            and math.isfinite(clock)):
        raise ValueError("an empty, oversized or non-finite vector, or a non-finite clock")
    return vector, clock


def scope_key(shard: int, scope: str) -> bytes:
    return json.dumps([shard, scope], separators=(",", ":")).encode()


def decode_scope_key(key: bytes) -> tuple[int, str]:
    return _checked("trending key", lambda: _decode_scope_key(key))


def _decode_scope_key(key: bytes) -> tuple[int, str]:
    shard, scope = json.loads(key)
    if not (_is_int(shard) and isinstance(scope, str)):
        raise ValueError("shard or scope of the wrong type")
    return shard, scope


def encode_scope(part: ScopeBest) -> bytes:
    return json.dumps(list(part), separators=(",", ":")).encode()


def decode_scope(value: bytes) -> ScopeBest:
    return _checked("trending part", lambda: _decode_scope(value))


def _decode_scope(value: bytes) -> ScopeBest:
    landmark, mass, best, gone = json.loads(value)
    if not (_finite(landmark) and _finite(mass) and isinstance(best, dict)
            and all(isinstance(i, str) and _finite(v) for i, v in best.items())
            and isinstance(gone, list) and all(isinstance(i, str) for i in gone)):
        raise ValueError("a field of the wrong type or not finite")
    return ScopeBest(float(landmark), float(mass), best, gone)
