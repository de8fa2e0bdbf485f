"""What the deep ranker remembers from the stream that no online model keeps in public.

Price and category of each item (from the interactions, which carry the catalogue's facts), how
popular each item is now (an interaction count that halves every ``half_life_s``), and when each
user last touched each item (for the recency signal). It learns from every interaction the
shard's model learns from, in the worker and in the replay that makes training data alike, so a
row's signals mean the same in training and in serving.

>>> from models.base import Interaction
>>> memory = RankerMemory(half_life_s=10.0)
>>> memory.learn_one(Interaction("ann", "tea", ts=0.0, kind="purchase", price=2.5))
>>> memory.learn_one(Interaction("bob", "tea", ts=10.0))
>>> [round(float(v), 2) for v in memory.popularity(["tea", "jam"], now=10.0)]
[2.5, 0.0]
>>> [float(v) for v in memory.recency("ann", ["tea", "jam"], now=10.0)]
[0.5, 0.0]
>>> memory.item("tea"), memory.item("jam")
(ItemInfo(item_id='tea', category=None, price=2.5, title=None, in_stock=True), ItemInfo(item_id='jam', category=None, price=None, title=None, in_stock=True))
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from models.base import Interaction, ItemInfo

__all__ = ["RankerMemory"]

# A landmark this many half-lives old is moved (2**64 is far inside a float's range).
_RESCALE_EXPONENT = 64.0
# Items a user's recency remembers: a top-k re-ranking needs the recent few, not a history.
_PER_USER = 100


class RankerMemory:
    """Catalogue facts, decayed popularity and per-user last touches; see the module docstring.

    ``half_life_s``: a week for popularity and recency alike, the trending half-life the hybrid
    uses on a shop of a few dozen orders a day.
    """

    def __init__(self, half_life_s: float = 7 * 86_400.0) -> None:
        self.half_life_s = half_life_s
        self._items: dict[str, ItemInfo] = {}
        # Forward decay: an interaction at ts adds weight * 2**((ts - landmark) / half-life), so
        # popularity at any time is one array read times one factor, not a decay per item.
        self._counts: dict[str, float] = {}
        self._landmark: float | None = None
        self._touched: dict[str, dict[str, float]] = {}  # user -> item -> last ts

    def learn_one(self, interaction: Interaction) -> None:
        item_id, ts = interaction.item_id, interaction.ts
        if interaction.category is not None or interaction.price is not None:
            self._items[item_id] = ItemInfo(item_id, interaction.category, interaction.price)
        if self._landmark is None:
            self._landmark = ts
        exponent = (ts - self._landmark) / self.half_life_s
        if exponent > _RESCALE_EXPONENT:  # keep the sums far from overflow: move the landmark
            factor = 2.0 ** -exponent
            self._counts = {item: value * factor for item, value in self._counts.items()}
            self._landmark, exponent = ts, 0.0
        self._counts[item_id] = self._counts.get(item_id, 0.0) + interaction.weight * 2.0 ** exponent
        touched = self._touched.setdefault(interaction.user_id, {})
        touched.pop(item_id, None)
        touched[item_id] = ts
        if len(touched) > _PER_USER:
            del touched[next(iter(touched))]

    def forget_users(self, users: Iterable[str]) -> None:
        for user in users:
            self._touched.pop(user, None)

    def knows(self, user_id: str) -> bool:
        """Whether the user has a history here (touched an item, not forgotten since)."""
        return user_id in self._touched

    def item(self, item_id: str) -> ItemInfo:
        """The item's latest known facts (a bare id when none are known)."""
        return self._items.get(item_id) or ItemInfo(item_id)

    def popularity(self, item_ids: Sequence[str], now: float) -> np.ndarray:
        """Each item's interaction weight, halved for every half-life since (0: never seen)."""
        if self._landmark is None:
            return np.zeros(len(item_ids), dtype=np.float32)
        get = self._counts.get
        sums = np.fromiter((get(item, 0.0) for item in item_ids), dtype=np.float64,
                           count=len(item_ids))
        return (sums * 2.0 ** ((self._landmark - now) / self.half_life_s)).astype(np.float32)

    def recency(self, user_id: str, item_ids: Sequence[str], now: float) -> np.ndarray:
        touched = self._touched.get(user_id, {})
        return np.array([self._decayed(1.0, touched[item], now) if item in touched else 0.0
                         for item in item_ids], dtype=np.float32)

    def _decayed(self, weight: float, since: float, now: float) -> float:
        return weight * 2.0 ** (-max(now - since, 0.0) / self.half_life_s)

    def __repr__(self) -> str:
        return f"RankerMemory(half_life_s={self.half_life_s!r})"
