"""The vectors of :class:`~models.embeddings.OnlineMF`: where an id's starts, and the dense rows
they are kept in.

>>> rows = _Rows(n_factors=2)
>>> for key in ("a", "b", "c"):
...     _ = rows.add(key, initial_vector(key, seed=0, n_factors=2), ts=0.0)
>>> rows.remove("a")  # the last row ("c") takes its place
>>> rows.ids, rows.index
(['c', 'b'], {'b': 1, 'c': 0})
>>> bool((rows.matrix[0] == initial_vector("c", seed=0, n_factors=2)).all())
True
"""

from __future__ import annotations

import random
import zlib

import numpy as np

__all__ = ["VectorTable", "initial_vector"]

# Vectors start small so first dot products sit near 0 (probability 1/2) and the first steps
# move positives and negatives by the same amount, whatever the number of factors.
_INIT_STD = 0.1
# Smallest matrix kept: below this, halving after an expiry saves nothing worth a copy.
_MIN_ROWS = 64


def initial_vector(key: str, seed: int, n_factors: int) -> np.ndarray:
    """The vector an id starts at."""
    # Seeded by the id, not by arrival order: every worker starts an id at the same vector,
    # whichever partition meets it first and whatever it met before.
    rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
    return rng.normal(0.0, _INIT_STD, n_factors).astype(np.float32)


class _Rows:
    """Ids mapped to the rows of a float32 matrix kept dense: rows ``[0, n)`` are the live ids.

    Removing an id moves the last row into its place, so freed rows are reused at once; the
    matrix doubles when full and halves when a quarter full, so memory follows the live ids.
    """

    def __init__(self, n_factors: int) -> None:
        self.index: dict[str, int] = {}
        self.ids: list[str] = []
        self.matrix = np.zeros((_MIN_ROWS, n_factors), dtype=np.float32)
        self.last_seen = np.zeros(_MIN_ROWS, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, key: str, vec: np.ndarray, ts: float) -> int:
        row = len(self.ids)
        if row == len(self.matrix):
            self._resize(2 * row)
        self.matrix[row] = vec
        self.last_seen[row] = ts
        self.index[key] = row
        self.ids.append(key)
        return row

    def put(self, key: str, vec: np.ndarray, ts: float) -> None:
        """Set the id's vector and last-seen time, adding the id if it has no row."""
        row = self.index.get(key)
        if row is None:
            self.add(key, vec, ts)
        else:
            self.matrix[row] = vec
            self.last_seen[row] = ts

    def remove(self, key: str) -> None:
        row = self.index.pop(key)
        last = len(self.ids) - 1
        moved = self.ids.pop()
        if row != last:
            self.matrix[row] = self.matrix[last]
            self.last_seen[row] = self.last_seen[last]
            self.ids[row] = moved
            self.index[moved] = row
        if len(self.matrix) > _MIN_ROWS and len(self.ids) < len(self.matrix) // 4:
            self._resize(len(self.matrix) // 2)

    def stale(self, before: float) -> list[str]:
        rows = np.flatnonzero(self.last_seen[: len(self.ids)] < before)
        return [self.ids[r] for r in rows]

    def sample(self, n: int, rng: random.Random, besides: str) -> list[int]:
        """``n`` rows drawn uniformly, with replacement, from all but the row of ``besides``."""
        skip = self.index.get(besides)
        others = len(self.ids) - (skip is not None)
        if others <= 0:
            return []
        randrange = rng.randrange
        drawn = []
        for _ in range(n):
            row = randrange(others)
            if skip is not None and row >= skip:  # rows past the skipped one shift up by one
                row += 1
            drawn.append(row)
        return drawn

    def _resize(self, rows: int) -> None:
        n = len(self.ids)
        matrix = np.zeros((rows, self.matrix.shape[1]), dtype=np.float32)
        matrix[:n] = self.matrix[:n]
        last_seen = np.zeros(rows, dtype=np.float64)
        last_seen[:n] = self.last_seen[:n]
        self.matrix, self.last_seen = matrix, last_seen


# The table of vectors a worker's user shards share (OnlineMF.share_items): ids to dense rows.
VectorTable = _Rows
