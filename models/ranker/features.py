"""The deep ranker's inputs: one function for training rows and serving requests alike.

A row is two arrays. ``ids``: one hashed id per field of :data:`FIELDS` (the user, the item, its
category, the location, the weather condition, the hour, the device), each field in its own range
of :data:`BUCKETS` rows of one embedding table, slot 0 of a range meaning "unknown". ``dense``:
the :data:`DENSE` signals of the online models and the catalogue, scaled to a few units, and the
candidate's rank in the list the candidate generator handed over (its blend of repeat,
co-visitation, embedding and trending scores, best first): within one request that order was the
strongest signal measured (docs/ranker.md), and a scorer receives the candidates in it.

Hashing is crc32, not Python's ``hash``: a string's hash changes with each process
(PYTHONHASHSEED), and a row must hash alike in the trainer and in every worker.

>>> from models.base import Context
>>> rain = Context(ts=8 * 3600.0, location="London", condition="rain", temp_c=7.5, device="app")
>>> signals = Signals(river=np.array([0.2]), similarity=np.array([1.5]),
...                   popularity=np.array([3.0]), recency=np.array([0.5]))
>>> x = encode("u1", [ItemInfo("umbrella", category=None, price=12.0)], rain, signals)
>>> x.ids.shape, x.dense.shape, int(x.ids[0, FIELDS.index("category")])
((1, 7), (1, 7), 32768)
>>> [round(float(v), 3) for v in x.dense[0]]
[0.2, 1.5, 2.565, 0.75, 1.386, 0.5, 0.0]
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.base import Context, ItemInfo

__all__ = ["BUCKETS", "DENSE", "FIELDS", "Inputs", "Signals", "encode", "hashed"]

FIELDS: tuple[str, ...] = ("user", "item", "category", "location", "condition", "hour",
                           "device")
DENSE: tuple[str, ...] = ("river", "similarity", "log_price", "temp", "log_popularity",
                          "recency", "log_rank")
# Rows per field: 16k. A shard of Online Retail sees about 4k users and 3.7k items, so
# collisions stay rare, and the table (7 x 16k x 16 floats) is 7 MB.
BUCKETS = 2**14


@dataclass(frozen=True, slots=True)
class Signals:
    """What the online models say of each candidate, in candidate order (see
    :class:`models.ranker.memory.RankerMemory` and :class:`models.ranker.online.OnlineFeatures`).

    ``river``: the River context model's probability; ``similarity``: the user's embedding dot
    the item's (0 when either is unknown); ``popularity``: the item's decayed interaction count;
    ``recency``: 1 when the user touched the item just now, halving every half-life, 0 never.
    """

    river: np.ndarray
    similarity: np.ndarray
    popularity: np.ndarray
    recency: np.ndarray


@dataclass(frozen=True, slots=True)
class Inputs:
    """The ranker's two inputs for a batch of rows: what the ONNX graph takes, by name."""

    ids: np.ndarray  # int64, (n, len(FIELDS))
    dense: np.ndarray  # float32, (n, len(DENSE))

    def feeds(self) -> dict[str, np.ndarray]:
        return {"ids": self.ids, "dense": self.dense}


# A worker hashes the same items request after request: each field=value is hashed once (the
# cache costs about 100 bytes an entry; 256k entries cover a large catalogue's items and
# categories with every user active in a day).
@functools.lru_cache(maxsize=2**18)
def hashed(field: str, value: object) -> int:
    """The row of ``field=value`` in the embedding table; None is the field's slot 0.

    >>> hashed("user", None), hashed("user", "u1") == hashed("user", "u1"), hashed("hour", 3) > BUCKETS
    (0, True, True)
    """
    offset = FIELDS.index(field) * BUCKETS
    if value is None:
        return offset
    return offset + 1 + zlib.crc32(f"{field}={value}".encode()) % (BUCKETS - 1)


def encode(user_id: str, items: Sequence[ItemInfo], context: Context, signals: Signals,
           listed_at: Sequence[int] | None = None, known_user: bool = True) -> Inputs:
    """The rows of one request: the user's candidates ``items``, best first by the candidate
    generator, in ``context``. ``listed_at``: each item's place in the generator's list when
    ``items`` are some of them in another order (the rows a server logs of what it showed).

    A user without a history (``known_user`` False) takes the user field's "unknown" slot: a
    stranger's id is a row no other example shares, which a network can only memorise. Where
    every session is a new user (YooChoose), hashing them anyway made the ranker lose to the
    River model on the later slice (AUC 0.575 against 0.637); see docs/ranker.md."""
    n = len(items)
    user = hashed("user", user_id if known_user else None)
    shared = np.array([user, 0, 0, hashed("location", context.location),
                       hashed("condition", context.condition),
                       hashed("hour", int(context.ts // 3600 % 24)),
                       hashed("device", context.device)], dtype=np.int64)
    ids = np.tile(shared, (n, 1))
    ids[:, 1] = [hashed("item", item.item_id) for item in items]
    ids[:, 2] = [hashed("category", item.category) for item in items]
    dense = np.empty((n, len(DENSE)), dtype=np.float32)
    dense[:, 0] = signals.river
    # An embedding dot product grows with training; clipped so one outlier cannot saturate.
    dense[:, 1] = np.clip(signals.similarity, -10.0, 10.0)
    dense[:, 2] = np.log1p([max(item.price or 0.0, 0.0) for item in items])
    dense[:, 3] = (context.temp_c or 0.0) / 10.0
    dense[:, 4] = np.log1p(np.maximum(signals.popularity, 0.0))
    dense[:, 5] = signals.recency
    places = np.arange(n) if listed_at is None else np.maximum(np.asarray(listed_at), 0)
    dense[:, 6] = np.log1p(places)
    return Inputs(ids, dense)
