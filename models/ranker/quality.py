"""The ranker's offline quality: AUC and log loss over rows, NDCG@k over requests.

Plain numpy, so the registry, the gate and the tests measure without torch. NDCG uses binary
gains (a row is relevant when its basket held the item) and counts only requests with at least
one positive: a list nobody bought from says nothing of its order.

>>> label = np.array([1, 0, 0, 0, 1, 0])
>>> request = np.array([0, 0, 0, 1, 1, 1])
>>> good, bad = np.array([.9, .1, .2, .3, .8, .1]), np.array([.1, .9, .2, .3, .1, .8])
>>> quality(label, good, request)["auc"], quality(label, bad, request)["auc"]
(1.0, 0.0)
>>> round(quality(label, good, request)["ndcg@10"], 3), round(quality(label, bad, request)["ndcg@10"], 3)
(1.0, 0.5)
"""

from __future__ import annotations

import numpy as np

__all__ = ["auc", "log_loss", "ndcg_at", "quality"]


def auc(label: np.ndarray, score: np.ndarray) -> float:
    """The probability that a positive outscores a negative (ties count half)."""
    order = np.argsort(score, kind="stable")
    ranks = np.empty(len(score), dtype=np.float64)
    sorted_scores = score[order]
    # Average ranks over ties.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)
    positives = label.astype(bool)
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def log_loss(label: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    return float(-np.mean(label * np.log(p) + (1 - label) * np.log(1 - p)))


def ndcg_at(label: np.ndarray, score: np.ndarray, request: np.ndarray, k: int = 10) -> float:
    """Mean NDCG@k over the requests with a positive; ``request`` must be sorted."""
    bounds = np.flatnonzero(np.diff(request)) + 1
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    total, n = 0.0, 0
    for rows in np.split(np.arange(len(label)), bounds):
        gains = label[rows]
        relevant = int(gains.sum())
        if relevant == 0:
            continue
        top = rows[np.argsort(-score[rows], kind="stable")[:k]]
        dcg = float((label[top] * discount[:len(top)]).sum())
        total += dcg / float(discount[:min(relevant, k)].sum())
        n += 1
    return total / n if n else float("nan")


def quality(label: np.ndarray, score: np.ndarray, request: np.ndarray) -> dict[str, float]:
    return {"auc": auc(label, score), "logloss": log_loss(label, score),
            "ndcg@10": ndcg_at(label, score, request, 10)}
