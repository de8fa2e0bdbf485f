"""Embedding steps run in waves: a few matrix operations per wave instead of a dozen numpy calls
per step.

A step of :class:`~models.embeddings.OnlineMF` writes one row, a user's or an item's, and steps
that write distinct rows commute. So a batch splits into waves (:func:`waves`), no wave writes a
row twice, and each wave runs as one step of many rows: :func:`step_users` for user halves,
:func:`step_items` for item row updates. The loss is the logistic loss of the module docstring of
:mod:`models.embeddings`.

>>> waves([(1, "a"), (2, "b"), (1, "c"), (1, "d"), (2, "e")], key=lambda entry: entry[0])
[[(1, 'a'), (2, 'b')], [(1, 'c'), (2, 'e')], [(1, 'd')]]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import TypeVar

import numpy as np

__all__ = ["step_items", "step_users", "waves"]

_T = TypeVar("_T")


def waves(entries: list[_T], key: Callable[[_T], int]) -> list[list[_T]]:
    """Entries in waves: the k-th entry of each key goes to wave k, so no wave holds a key
    twice and each key's entries keep their order across waves."""
    split: list[list[_T]] = []
    depth: dict[int, int] = {}
    for entry in entries:
        k = depth.get(key(entry), 0)
        depth[key(entry)] = k + 1
        if k == len(split):
            split.append([])
        split[k].append(entry)
    return split


def step_users(users: np.ndarray, items: np.ndarray, wave: Sequence[tuple[int, list[int], float]],
               learning_rate: float, regularization: float) -> np.ndarray:
    """Step the users of a wave of ``(user row, item rows, weight)``, each toward its first item
    row (the positive) and away from the others (its negatives); the users' vectors before.

    The wave's users are distinct and its events draw as many negatives each.
    """
    # Logistic loss, per event: gradient (target - sigmoid(u.v)) v over the positive and
    # its negatives; the tanh form never overflows.
    user_rows = [user_row for user_row, _, _ in wave]
    before = users[user_rows]  # a copy: the item halves learn from it
    vecs = items[[item_rows for _, item_rows, _ in wave]]  # (events, 1 + negatives, k)
    dots = np.einsum("ejk,ek->ej", vecs, before)
    targets = np.zeros(dots.shape[1], dtype=np.float32)
    targets[0] = 1.0
    scale = np.array([learning_rate * weight for _, _, weight in wave], dtype=np.float32)
    grad = scale[:, None] * (targets - (0.5 + 0.5 * np.tanh(0.5 * dots)))
    delta = np.einsum("ej,ejk->ek", grad, vecs)
    if regularization:
        delta -= (learning_rate * regularization) * before
    users[user_rows] = before + delta
    return before


def step_items(items: np.ndarray, updates: list[tuple[int, float, np.ndarray, float]],
               learning_rate: float, regularization: float) -> None:
    """Step item rows toward (target 1) or away from (target 0) user vectors, in order: each
    update is ``(row, target, user vector, weight)``.

    An update reads and writes its own row only, so updates of distinct rows commute: the
    k-th update of each row runs in wave k, a few matrix operations per wave, and every row
    sees its updates in stream order (a negative drawn twice included).
    """
    for wave in waves(updates, key=itemgetter(0)):
        rows, targets, user_vecs, weights = zip(*wave, strict=True)
        vecs = items[list(rows)]
        users = np.stack(user_vecs)
        dots = np.einsum("ek,ek->e", vecs, users)
        grad = (learning_rate * np.array(weights, dtype=np.float32)) * (
            np.array(targets, dtype=np.float32) - (0.5 + 0.5 * np.tanh(0.5 * dots)))
        step = grad[:, None] * users
        if regularization:
            step -= (learning_rate * regularization) * vecs
        items[list(rows)] = vecs + step
