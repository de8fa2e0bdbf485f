"""Ranking metrics at k for one target item against a ranked list, accumulated online.

With a single relevant item the ideal DCG is 1, so NDCG@k is ``1 / log2(rank + 1)`` when the
target sits at ``rank`` (1-based) within the top k, and 0 otherwise; the reciprocal rank is
``1 / rank``; a hit is 1. A target ranked third of twenty:

>>> ranked = [f"i{n}" for n in range(1, 21)]
>>> hit(ranked, "i3", k=20), reciprocal_rank(ranked, "i3", k=20), ndcg(ranked, "i3", k=20)
(1.0, 0.3333333333333333, 0.5)
>>> hit(ranked, "i3", k=2)
0.0

:class:`RankingMetrics` accumulates them prequentially, cumulatively and over a rolling window:

>>> m = RankingMetrics(k=20, window=2)
>>> m.update(ranked, "i1"); m.update(ranked, "i3"); m.update(ranked, "nope")
>>> m.get()["hr@20"], m.get()["mrr@20"], m.get()["n"]
(0.6666666666666666, 0.4444444444444444, 3)
>>> m.get()["rolling_hr@20"], m.get()["rolling_mrr@20"]
(0.5, 0.16666666666666666)
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

__all__ = ["RankingMetrics", "hit", "ndcg", "rank_of", "reciprocal_rank"]


def rank_of(ranked_ids: Sequence[str], target: str, k: int) -> int | None:
    """The 1-based rank of ``target`` within the first ``k`` of ``ranked_ids``, or None."""
    for position, item_id in enumerate(ranked_ids[:k], start=1):
        if item_id == target:
            return position
    return None


def hit(ranked_ids: Sequence[str], target: str, k: int) -> float:
    return 0.0 if rank_of(ranked_ids, target, k) is None else 1.0


def reciprocal_rank(ranked_ids: Sequence[str], target: str, k: int) -> float:
    rank = rank_of(ranked_ids, target, k)
    return 0.0 if rank is None else 1.0 / rank


def ndcg(ranked_ids: Sequence[str], target: str, k: int) -> float:
    rank = rank_of(ranked_ids, target, k)
    return 0.0 if rank is None else _gain(rank)


def _gain(rank: int) -> float:
    return 1.0 / math.log2(rank + 1)


class RankingMetrics:
    """HR@k, MRR@k and NDCG@k, cumulative and (with ``window``) over the last ``window`` updates.

    Cumulative state is four sums, so partitions scored by different workers merge exactly
    (:meth:`merge`) and travel as a plain dict (:meth:`to_sums`, e.g. a Redis hash). The rolling
    window is local to one scorer: windows of different partitions interleave in time and have no
    meaningful union, so they are neither merged nor serialised.
    """

    def __init__(self, k: int = 20, window: int | None = None) -> None:
        self.k = k
        self.window = window
        self._n = 0
        self._hits = 0
        self._rr = 0.0
        self._ndcg = 0.0
        # The window holds ranks (0 = miss) and a count per rank: metrics are then exact sums of
        # k + 1 integer counts, with no floating-point drift from adding and removing terms.
        self._recent: deque[int] = deque()
        self._rank_counts = [0] * (k + 1)

    def update(self, ranked_ids: Sequence[str], target: str) -> None:
        rank = rank_of(ranked_ids, target, self.k)
        self._n += 1
        if rank is not None:
            self._hits += 1
            self._rr += 1.0 / rank
            self._ndcg += _gain(rank)
        if self.window:
            self._recent.append(rank or 0)
            self._rank_counts[rank or 0] += 1
            if len(self._recent) > self.window:
                self._rank_counts[self._recent.popleft()] -= 1

    def get(self) -> dict[str, float]:
        k, n = self.k, self._n
        out: dict[str, float] = {
            f"hr@{k}": self._hits / n if n else 0.0,
            f"mrr@{k}": self._rr / n if n else 0.0,
            f"ndcg@{k}": self._ndcg / n if n else 0.0,
            "n": n,
        }
        if self.window:
            w = len(self._recent) or 1  # an empty window reads as zeros, like n = 0 above
            ranked = [(rank, count) for rank, count in enumerate(self._rank_counts) if rank]
            out[f"rolling_hr@{k}"] = sum(count for _, count in ranked) / w
            out[f"rolling_mrr@{k}"] = sum(count / rank for rank, count in ranked) / w
            out[f"rolling_ndcg@{k}"] = sum(count * _gain(rank) for rank, count in ranked) / w
            out["rolling_n"] = len(self._recent)
        return out

    def merge(self, other: RankingMetrics) -> RankingMetrics:
        """Add ``other``'s cumulative sums to these (in place); returns self."""
        if other.k != self.k:
            raise ValueError(f"cannot merge metrics at k={other.k} into metrics at k={self.k}")
        self._n += other._n
        self._hits += other._hits
        self._rr += other._rr
        self._ndcg += other._ndcg
        return self

    def to_sums(self) -> dict[str, float]:
        """The cumulative state as a plain dict: ``{"k", "n", "hits", "rr", "ndcg"}``."""
        return {"k": self.k, "n": self._n, "hits": self._hits, "rr": self._rr, "ndcg": self._ndcg}

    @classmethod
    def from_sums(cls, sums: dict[str, float], window: int | None = None) -> RankingMetrics:
        """Rebuild from :meth:`to_sums` output (values may come back as strings from Redis)."""
        metrics = cls(k=int(sums["k"]), window=window)
        metrics._n = int(sums["n"])
        metrics._hits = int(sums["hits"])
        metrics._rr = float(sums["rr"])
        metrics._ndcg = float(sums["ndcg"])
        return metrics

    def __repr__(self) -> str:
        return f"RankingMetrics(k={self.k!r}, window={self.window!r})"
