"""The workers' internal messages: item steps and the item broadcast, encoded compactly.

* ``learn.item-steps``, keyed by the source shard, sent to the item's partition: one message per
  target partition per batch (:class:`StepMessage`). User vectors travel as the rows of one
  base64 float32 matrix (each distinct vector once) that the steps refer to by index.
* ``model.item-vectors``, key the item id: its TTL clock (float64 seconds, little-endian) then
  its packed float32 vector; a removed (expired) item is a tombstone (no value).
* ``model.item-trending``, key ``[item shard, scope]`` as JSON: that shard's part of the scope
  (:class:`ScopeBest`) as JSON.

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
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from models.embeddings import ItemStep, pack, unpack

_CLOCK = struct.Struct("<d")


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
    doc = json.loads(value)
    dim = doc["dim"]
    vectors = unpack(base64.b64decode(doc["vecs"])).reshape(-1, dim) if dim else None
    steps = [ItemStep(item, ts, weight,
                      None if row < 0 or vectors is None else vectors[row],
                      (topic, offset), location, condition)
             for topic, offset, item, ts, weight, row, location, condition in doc["steps"]]
    return StepMessage(doc["src"], doc["wm"], steps)


class ScopeBest(NamedTuple):
    """An item shard's part of a trending scope, as of its landmark. Item shards hold disjoint
    items, so the union of their kept best holds each scope's top 100."""

    landmark: float
    mass: float  # the stored total over all of the shard's items in the scope
    best: dict[str, float]  # its kept best items' stored sums
    gone: list[str]  # items it expired since its last message


VectorChange = tuple[str, tuple[np.ndarray, float] | None]  # item, (vector, TTL clock)
ScopeChange = tuple[int, str, ScopeBest]  # item shard, scope, its part


class Changes(NamedTuple):
    """What one poll of the broadcast brought, oldest first (a later change of a key wins)."""

    vectors: list[VectorChange]
    scopes: list[ScopeChange]


def encode_vector(vec: np.ndarray, last_seen: float) -> bytes:
    return _CLOCK.pack(last_seen) + pack(vec)


def decode_vector(value: bytes) -> tuple[np.ndarray, float]:
    return unpack(value[_CLOCK.size:]), _CLOCK.unpack_from(value)[0]


def scope_key(shard: int, scope: str) -> bytes:
    return json.dumps([shard, scope], separators=(",", ":")).encode()


def decode_scope_key(key: bytes) -> tuple[int, str]:
    shard, scope = json.loads(key)
    return shard, scope


def encode_scope(part: ScopeBest) -> bytes:
    return json.dumps(list(part), separators=(",", ":")).encode()


def decode_scope(value: bytes) -> ScopeBest:
    return ScopeBest(*json.loads(value))
