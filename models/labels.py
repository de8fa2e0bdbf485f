"""Labels for the contextual model: what was shown, joined with what was then clicked or bought.

:class:`ImpressionJoiner` joins an impression (the items shown to a user for one request) with
the same user's interactions within ``window_s`` seconds. A click or purchase of a shown item is
a positive, emitted at once; when the window closes, every shown item that was not interacted
with is a negative. Negatives wait for the window rather than being emitted at the first click,
so a user who clicks two items of one list gives two positives, never a positive and a
contradicting negative for the same showing.

>>> from models.base import Context, Interaction
>>> joiner = ImpressionJoiner(window_s=60)
>>> joiner.add_impression("r1", "u1", ["a", "b", "c"], ts=0.0, context=Context(ts=0.0))
>>> [(e.item_id, e.label) for e in joiner.add_interaction(Interaction("u1", "b", ts=10.0))]
[('b', True)]
>>> [(e.item_id, e.label) for e in joiner.expire(now_ts=61.0)]
[('a', False), ('c', False)]

An impression may carry one logged row per shown item (the serving path's feature logging: the
ranker's inputs as they were when the list was shown); the row travels with the item's label,
so a ranker trains on what the server saw, not on features recomputed later.

Before any impression is logged there is nothing to join: :class:`NegativeSampler` stands in,
pairing each interaction with items drawn from recent interactions, i.e. in proportion to
their recent popularity.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from models.base import Context, Interaction

__all__ = ["ImpressionJoiner", "Labelled", "NegativeSampler", "Row"]

# A logged feature row: the ranker's hashed ids and dense signals of one shown item.
Row = tuple[Sequence[int], Sequence[float]]


class Labelled(NamedTuple):
    """One training example: for the contextual model, and with its logged ``row`` (when the
    impression carried one) for the ranker's training data."""

    user_id: str
    item_id: str
    context: Context
    label: bool
    request_id: str = ""
    row: Row | None = None


@dataclass(slots=True)
class _Pending:
    user_id: str
    item_ids: tuple[str, ...]
    ts: float
    context: Context
    rows: tuple[Row, ...] | None = None  # one per item, when the impression logged them
    engaged: set[str] = field(default_factory=set)

    def labelled(self, request_id: str, index: int, label: bool) -> Labelled:
        return Labelled(self.user_id, self.item_ids[index], self.context, label, request_id,
                        self.rows[index] if self.rows is not None else None)


class ImpressionJoiner:
    """Joins impressions with interactions of the same user within ``window_s`` seconds.

    At most ``max_pending`` impressions wait for their window; beyond that the oldest is dropped
    without emitting its negatives (counted in ``dropped``): losing some negatives under load is
    better than unbounded memory. An interaction joins the user's most recent pending impression
    that showed its item (last touch), so one interaction is one positive.
    """

    def __init__(self, window_s: float = 1800.0, max_pending: int = 100_000) -> None:
        self.window_s = window_s
        self.max_pending = max_pending
        # Insertion order is request order, so the front of the dict expires first; an impression
        # logged out of order only waits a little longer than its window.
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._by_user: dict[str, dict[str, None]] = {}  # user -> request ids, oldest first
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._pending)

    def add_impression(self, request_id: str, user_id: str, item_ids: Iterable[str], ts: float,
                       context: Context, rows: Sequence[Row] | None = None) -> None:
        """Wait for what follows the showing of ``item_ids``; ``rows``, one per item, travel
        with their labels (ignored unless there is one per item)."""
        # Kafka delivers at least once: a replayed impression must not be labelled twice.
        if request_id in self._pending:
            return
        items = tuple(item_ids)
        logged = tuple(rows) if rows is not None and len(rows) == len(items) else None
        self._pending[request_id] = _Pending(user_id, items, ts, context, logged)
        self._by_user.setdefault(user_id, {})[request_id] = None
        while len(self._pending) > self.max_pending:
            self._remove(next(iter(self._pending)))
            self.dropped += 1

    def add_interaction(self, interaction: Interaction) -> list[Labelled]:
        """The positive this interaction makes now, if it joins a pending impression."""
        requests = self._by_user.get(interaction.user_id, {})
        for request_id in reversed(requests):
            pending = self._pending[request_id]
            if not pending.ts <= interaction.ts <= pending.ts + self.window_s:
                continue
            if interaction.item_id not in pending.item_ids:
                continue
            if interaction.item_id in pending.engaged:
                return []  # a click then a purchase of one showing is one positive
            pending.engaged.add(interaction.item_id)
            return [pending.labelled(request_id, pending.item_ids.index(interaction.item_id),
                                     True)]
        return []

    def expire(self, now_ts: float) -> list[Labelled]:
        """Negatives of every impression whose window closed before ``now_ts``."""
        out: list[Labelled] = []
        while self._pending:
            request_id, pending = next(iter(self._pending.items()))
            if pending.ts + self.window_s >= now_ts:
                break
            self._remove(request_id)
            out.extend(pending.labelled(request_id, i, False)
                       for i, item_id in enumerate(pending.item_ids)
                       if item_id not in pending.engaged)
        return out

    def _remove(self, request_id: str) -> None:
        pending = self._pending.pop(request_id)
        requests = self._by_user[pending.user_id]
        del requests[request_id]
        if not requests:
            del self._by_user[pending.user_id]

    def __repr__(self) -> str:
        return f"ImpressionJoiner(window_s={self.window_s!r}, max_pending={self.max_pending!r})"


class NegativeSampler:
    """Pairs each interaction (a positive) with ``n`` negatives drawn from recent interactions.

    A uniform draw from the last ``memory`` interacted items is a draw proportional to recent
    popularity: popular items become the negatives most often, which keeps a model from learning
    popularity alone. An item is never its own negative, and negatives are distinct.

    >>> from models.base import Interaction
    >>> sampler = NegativeSampler(n=2, seed=1)
    >>> for item in ["a", "b", "c"]:
    ...     examples = sampler.label(Interaction("u1", item, ts=0.0))
    >>> [(e.item_id, e.label) for e in examples]
    [('c', True), ('b', False), ('a', False)]
    """

    def __init__(self, n: int = 4, memory: int = 10_000, seed: int | None = None,
                 uniform: bool = False) -> None:
        self.n = n
        self.memory = memory
        self.seed = seed
        # uniform=True draws from distinct recent items instead: a model then learns popularity
        # too. On Online Retail, recency-proportional negatives made the prequential AUC sink
        # below 0.5 (an item's weight lags its recent positives), uniform ones lift it above.
        self.uniform = uniform
        self._distinct: dict[str, None] = {}
        self._rng = random.Random(seed)
        # A list used as a ring buffer: random access is O(1), unlike a deque's middle.
        self._recent: list[str] = []
        self._next = 0

    def label(self, interaction: Interaction) -> list[Labelled]:
        """The positive, then up to ``n`` negatives; then remembers the item for later draws."""
        user_id, context = interaction.user_id, interaction.context
        out = [Labelled(user_id, interaction.item_id, context, True)]
        negatives = self.sample(exclude=interaction.item_id)
        out.extend(Labelled(user_id, item_id, context, False) for item_id in negatives)
        self.observe(interaction.item_id)
        return out

    def sample(self, exclude: str) -> list[str]:
        """Up to ``n`` distinct recent items other than ``exclude``."""
        chosen: dict[str, None] = {}
        recent = self._recent
        # A few draws per wanted negative: enough to get past repeats of a dominant item without
        # looping forever when the memory holds fewer than n other items.
        for _ in range(3 * self.n if recent else 0):
            item_id = recent[self._rng.randrange(len(recent))]
            if item_id != exclude:
                chosen[item_id] = None
                if len(chosen) == self.n:
                    break
        return list(chosen)

    def observe(self, item_id: str) -> None:
        if self.uniform:
            if item_id in self._distinct:
                return
            self._distinct[item_id] = None
        if len(self._recent) < self.memory:
            self._recent.append(item_id)
        else:
            if self.uniform:
                self._distinct.pop(self._recent[self._next], None)
            self._recent[self._next] = item_id
            self._next = (self._next + 1) % self.memory

    def __repr__(self) -> str:
        return (f"NegativeSampler(n={self.n!r}, memory={self.memory!r}, seed={self.seed!r}, "
                f"uniform={self.uniform!r})")
