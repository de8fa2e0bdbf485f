"""The vectors of :class:`~models.embeddings.OnlineMF`: where an id's starts, the dense rows
they are kept in, and exact retrieval over those rows (:func:`top_rows`).

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

__all__ = ["VectorTable", "initial_vector", "top_rows"]

# Vectors start small so first dot products sit near 0 (probability 1/2) and the first steps
# move positives and negatives by the same amount, whatever the number of factors.
_INIT_STD = 0.1
# Exact top n over many scores: a cut read off one score in _SAMPLE_EVERY keeps about _MARGIN
# times n of them (at least _MARGIN * _SAMPLE_EVERY), and only those are partitioned. At a
# million scores and n = 200 that took 0.8 ms here, where argpartition over all took 7 to 14 ms.
# A cut that lets fewer than n through (the best crowded into the sample: once in 20,000
# random draws at n = 200 here) costs one partition of all, as before.
_SAMPLE_EVERY = 64
_MARGIN = 4
# Smallest matrix kept: below this, halving after an expiry saves nothing worth a copy.
_MIN_ROWS = 64


def initial_vector(key: str, seed: int, n_factors: int) -> np.ndarray:
    """The vector an id starts at."""
    # Seeded by the id, not by arrival order: every worker starts an id at the same vector,
    # whichever partition meets it first and whatever it met before.
    rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
    return rng.normal(0.0, _INIT_STD, n_factors).astype(np.float32)


def top_rows(scores: np.ndarray, n: int) -> np.ndarray:
    """The indices of the ``n`` highest ``scores``, best first (equal scores in no set order).

    Exact retrieval is ``top_rows(matrix @ query, n)``: one pass over the dense rows, then a
    partial partition, so only the ``n`` kept are sorted (not every row, as a full argsort would).
    Over many scores, only those at or above a cut read off a sample are partitioned (see
    ``_SAMPLE_EVERY``). ``recstream bench retrieval`` measures this against approximate indexes.

    >>> top_rows(np.array([0.1, 0.9, 0.5, 0.7]), 2).tolist()
    [1, 3]
    >>> scores = np.random.default_rng(0).normal(size=100_000)  # large enough for the cut
    >>> bool((top_rows(scores, 200) == np.argsort(-scores)[:200]).all())
    True
    """
    count = len(scores)
    n = min(max(n, 0), count)
    sample = scores[::_SAMPLE_EVERY]
    keep = max(_MARGIN * n // _SAMPLE_EVERY, _MARGIN)
    if n > 0 and 8 * keep <= len(sample):  # else the cut would keep too much to save anything
        cut = np.partition(sample, len(sample) - keep)[len(sample) - keep]
        passed = np.flatnonzero(scores >= cut)
        # At least n at or above the cut: then the n-th best is too, and all the best passed.
        if len(passed) >= n:
            return passed[_partitioned(scores[passed], n)]
    return _partitioned(scores, n)


def _partitioned(scores: np.ndarray, n: int) -> np.ndarray:
    """:func:`top_rows` by a partial partition of all the scores (``0 <= n <= len(scores)``)."""
    count = len(scores)
    best = (np.argpartition(scores, count - n)[count - n:] if 0 < n < count
            else np.arange(count)[:n])
    return best[np.argsort(-scores[best], kind="stable")]


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
