"""The item half of an embedding step (:class:`ItemStep`), and the item side of
:class:`~models.embeddings.OnlineMF`: the item vectors, which the item's owner steps with item
halves, a copy receives by broadcast, and retrieval reads.

The module docstring of :mod:`models.embeddings` tells how a step splits into its two halves.
"""

from __future__ import annotations

import abc
import random
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

from models.base import Origin
from models.vectors import VectorTable, _Rows, initial_vector
from models.waves import step_items

__all__ = ["ItemStep"]


class ItemStep(NamedTuple):
    """The item half of a step, applied by the item's owner (:meth:`OnlineMF.apply_item_step`)."""

    item_id: str
    ts: float
    weight: float
    user_vec: np.ndarray | None  # None: the item is only counted (filter and TTL)
    origin: Origin | None = None  # the interaction's: where the stream found its event
    # Where and in what weather: the item's owner counts it in its trending scopes too.
    location: str | None = None
    condition: str | None = None


class _ItemSide(abc.ABC):
    """The item side of :class:`~models.embeddings.OnlineMF`: its item vectors, behind the
    frequency filter. OnlineMF's ``__init__`` sets the state below, which its user half shares.
    """

    n_factors: int
    learning_rate: float
    regularization: float
    negatives: int
    min_item_count: int
    seed: int
    _items: _Rows
    _shares_items: bool
    _pending: dict[str, tuple[int, float]]
    _item_rng: random.Random
    _clock: float

    @abc.abstractmethod
    def _run_user_steps(self) -> None:
        """Run the queued user halves, which read the item table: before it changes."""

    def share_items(self, table: VectorTable) -> None:
        """Read (and draw negatives from) ``table`` instead of an item table of its own.

        A worker's user shards all receive the same item vectors by broadcast: one table held
        once, not one copy per shard. Its owner runs every sharing model's queue
        (:meth:`flush`) before it changes the table, so queued user halves read the vectors
        they were queued with. A snapshot leaves the shared table out.
        """
        self._run_user_steps()
        self._items = table
        self._shares_items = True

    def flush(self) -> None:
        """Run the queued user halves now (before a shared item table changes)."""
        self._run_user_steps()

    def apply_item_step(self, step: ItemStep) -> list[str]:
        """Apply an item half; return the items whose vectors changed (or were just created)."""
        return self.apply_item_steps([step])[0]

    def apply_item_steps(self, steps: Iterable[ItemStep]) -> list[list[str]]:
        """Apply item halves in order; per step, the items whose vectors changed (or were just
        created).

        A step counts the item, admitting it on its ``min_item_count``-th interaction, and
        restarts its TTL clock. When both vectors exist, it steps the item toward ``user_vec``
        and pushes ``negatives`` other items drawn uniformly from this model's items away from
        it (their TTL clocks stay). The counting and the draws happen step by step; the vector
        updates then run together (:func:`~models.waves.step_items`).
        """
        self._run_user_steps()
        items = self._items
        changed: list[list[str]] = []
        updates: list[tuple[int, float, np.ndarray, float]] = []  # row, target, user, weight
        for step in steps:
            item_id, ts, user_vec = step.item_id, step.ts, step.user_vec
            self._clock = max(self._clock, ts)
            row = items.index.get(item_id)
            if row is None:
                count = self._pending.pop(item_id, (0, ts))[0] + 1
                if count < self.min_item_count:
                    self._pending[item_id] = (count, ts)
                    changed.append([])
                else:  # admitted now; it learns from its next interactions
                    items.add(item_id, initial_vector(item_id, self.seed, self.n_factors), ts)
                    changed.append([item_id])
                continue
            items.last_seen[row] = max(items.last_seen[row], ts)
            if user_vec is None:
                changed.append([])
                continue
            rows = [row, *items.sample(self.negatives, self._item_rng, besides=item_id)]
            updates.append((row, 1.0, user_vec, step.weight))
            updates.extend((negative, 0.0, user_vec, step.weight) for negative in rows[1:])
            changed.append([items.ids[r] for r in rows])
        step_items(items.matrix, updates, self.learning_rate, self.regularization)
        return changed

    def item_vector(self, item_id: str) -> np.ndarray | None:
        row = self._items.index.get(item_id)
        return None if row is None else self._items.matrix[row].copy()

    def set_item_vector(self, item_id: str, vec: np.ndarray, ts: float | None = None) -> None:
        """Restore or receive (broadcast) an item's vector; the item passes the filter with it."""
        self._run_user_steps()
        self._pending.pop(item_id, None)
        self._items.put(item_id, vec, self._clock if ts is None else ts)

    def drop_item(self, item_id: str) -> None:
        """Forget an item (its owner expired it: the broadcast says so)."""
        self._run_user_steps()
        if item_id in self._items.index:
            self._items.remove(item_id)
        self._pending.pop(item_id, None)

    def tracks(self, item_id: str) -> bool:
        """Whether the item has a vector or is counted toward one (not expired)."""
        return item_id in self._items.index or item_id in self._pending

    def item_last_seen(self, item_id: str) -> float | None:
        """When the item was last interacted with (its TTL clock), for the broadcast."""
        row = self._items.index.get(item_id)
        return None if row is None else float(self._items.last_seen[row])

    def item_ids(self) -> list[str]:
        """Items with an embedding, in the row order of :meth:`item_matrix`."""
        return list(self._items.ids)

    def item_matrix(self) -> np.ndarray:
        """A read-only view of the item vectors, valid until the model next changes."""
        view = self._items.matrix[: len(self._items)]
        view.flags.writeable = False
        return view

    @property
    def n_items(self) -> int:
        return len(self._items)
