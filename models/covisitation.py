"""Items bought or viewed together: item-to-item co-visitation counts, and session-kNN on them.

When a user interacts with item j after item i, within the ``window`` items before j in the same
session (or the user's last ``window`` items when events carry no session), both ``(i, j)`` and
``(j, i)`` gain the new interaction's weight (a purchase counts 3, a click 1), optionally decayed
with the forward decay of :class:`models.decay.ForwardDecay`. Each item keeps at most
``max_neighbours`` neighbours: when it has one more, the weaker half goes (pruning many at once
keeps the cost per event constant on average). :meth:`CoVisitation.increments_for` gives
the increments for a store without touching the model.

Recommendation is session-kNN over the user's last ``history`` items (which the model keeps):
every recent item votes for its neighbours with its share of co-visitation (each neighbour's
count over the item's total, so a bestseller seen once does not outvote the rest), weighted by
recency, linearly from 1 for the latest item down to 1/history for the oldest.

>>> model = CoVisitation(window=3)
>>> for user, basket in [("ann", ["tent", "stove", "mug"]), ("bob", ["tent", "stove"]),
...                      ("cat", ["stove", "mug"])]:
...     for item in basket:
...         model.learn_one(Interaction(user, item, ts=0.0, session_id=user))
>>> model.neighbours("stove", 2)
[('tent', 2.0), ('mug', 2.0)]
>>> model.learn_one(Interaction("dan", "tent", ts=1.0))
>>> [s.item_id for s in model.recommend("dan", k=2, context=Context(ts=2.0))]
['stove', 'mug']
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Sequence, Set
from operator import itemgetter

import numpy as np

from models.base import Context, DerivedState, Interaction, Recommender, Scored
from models.decay import ForwardDecay
from models.tally import Candidates, best_first, tally_codes

__all__ = ["CoVisitation"]

# Neighbour rows kept as arrays between requests (about 1.5 kB each at 100 neighbours): many
# times the rows of a batch of requests; past it, all are dropped and built again when read.
ROWS_KEPT = 4096


class CoVisitation(DerivedState, Recommender):
    """Co-visitation counts and session-kNN recommendation; see the module docstring.

    ``window`` 5: a basket's neighbouring lines are related, distant ones less so, and pairs
    cost 2·window counter updates per event. ``history`` 20 recent items per user vote.
    ``max_neighbours`` 100 keeps an item's strong neighbours at bounded memory.
    ``half_life_s`` None: no decay (a pair's relation does not age as fast as demand does).
    """

    DERIVED = ("_codes", "_names", "_arrays")

    def __init__(self, window: int = 5, history: int = 20, max_neighbours: int = 100,
                 half_life_s: float | None = None) -> None:
        self.window = window
        self.history = history
        self.max_neighbours = max_neighbours
        self.half_life_s = half_life_s
        self._decay = None if half_life_s is None else ForwardDecay(half_life_s)
        self._recent: dict[str, deque[tuple[str, str | None]]] = {}  # user -> (item, session)
        self._neighbours: dict[str, dict[str, float]] = {}
        self._totals: dict[str, float] = {}  # item -> sum of its neighbours' counts
        self._derive()

    def forget_users(self, users: Iterable[str]) -> None:
        for user in users:
            self._recent.pop(user, None)

    def increments_for(self, interaction: Interaction,
                       recent_items: Sequence[str]) -> list[tuple[str, str, float]]:
        """``(item_a, item_b, amount)`` for a store (pure): ``recent_items`` are the items before
        this one in its session, oldest first; the last ``window`` of them pair with it."""
        amount = interaction.weight
        if self._decay is not None:
            amount = self._decay.amount(amount, interaction.ts)
        item = interaction.item_id
        increments = []
        for other in dict.fromkeys(recent_items[-self.window:] if self.window else ()):
            if other != item:
                increments.append((other, item, amount))
                increments.append((item, other, amount))
        return increments

    def learn_one(self, interaction: Interaction) -> None:
        recent = self._recent.get(interaction.user_id)
        if recent is None:
            recent = self._recent[interaction.user_id] = deque(maxlen=self.history)
        increments = self.increments_for(interaction, self._session_items(recent, interaction))
        if self._decay is not None:
            factor = self._decay.advance(interaction.ts)
            if factor != 1.0:
                self._rescale(factor)
        neighbours, totals, arrays = self._neighbours, self._totals, self._arrays
        for a, b, amount in increments:
            arrays.pop(a, None)
            row = neighbours.get(a)
            if row is None:
                row = neighbours[a] = {}
            row[b] = row.get(b, 0.0) + amount
            totals[a] = totals.get(a, 0.0) + amount
            if len(row) > self.max_neighbours:
                self._prune(a, row)
        recent.append((interaction.item_id, interaction.session_id))

    def recommend(self, user_id: str, k: int, context: Context,
                  exclude: Iterable[str] = ()) -> list[Scored]:
        return [Scored(item, score, "covis")
                for item, score in self.ranked(user_id, k, context, set(exclude))]

    def ranked(self, user_id: str, n: int, context: Context,
               excluded: Set[str]) -> list[tuple[str, float]]:
        """The best ``n`` items outside ``excluded`` as (item, score) pairs, best first: what
        :meth:`recommend` returns, bare."""
        return self.candidates(user_id, n, excluded).pairs()

    def candidates(self, user_id: str, n: int, excluded: Set[str]) -> Candidates:
        """:meth:`ranked` as columns, for a blend that rescales the scores itself."""
        recent = self._recent.get(user_id)
        if not recent or n <= 0:
            return Candidates.none()
        codes: list[np.ndarray] = []  # the voting items' neighbours, latest item first
        votes: list[np.ndarray] = []
        voted: set[str] = set()
        for age, (item, _) in enumerate(reversed(recent)):
            if item in voted:
                continue
            row = self._row_arrays(item)
            if row is None:
                continue
            voted.add(item)
            codes.append(row[0])
            votes.append(row[1] * ((1.0 - age / self.history) / self._totals[item]))
        if not codes:
            return Candidates.none()
        distinct, scores = tally_codes(np.concatenate(codes), np.concatenate(votes))
        names = self._names
        items = [names[code] for code in distinct.tolist()]
        best = best_first(items, scores, n, excluded)
        return Candidates([items[i] for i in best], scores[best])

    def neighbours(self, item_id: str, k: int) -> list[tuple[str, float]]:
        """The item's ``k`` strongest co-visited items with their counts (stored, undecayed)."""
        return heapq.nlargest(k, self._neighbours.get(item_id, {}).items(), key=itemgetter(1))

    def recent_items(self, user_id: str) -> list[str]:
        """The user's last ``history`` items, oldest first."""
        return [item for item, _ in self._recent.get(user_id, ())]

    def _session_items(self, recent: deque[tuple[str, str | None]],
                       interaction: Interaction) -> list[str]:
        """The items before this one in its session (or in the user's window), oldest first."""
        if interaction.session_id is None:
            return [item for item, _ in list(recent)[-self.window:]]
        items: list[str] = []
        for item, session in reversed(recent):
            if session != interaction.session_id or len(items) == self.window:
                break
            items.append(item)
        items.reverse()
        return items

    def _row_arrays(self, item: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The item's neighbours as (codes, counts), in the row's order; None without any.

        A request sums the rows of a user's 20 recent items, about 1,000 counts: read from the
        dicts and tallied by id, that was 0.4 ms a request. A row's arrays are kept until the
        row changes (most rows a request reads did not since the last one), and neighbours are
        coded as integers, which numpy tallies in C.
        """
        arrays = self._arrays.get(item)
        if arrays is None:
            row = self._neighbours.get(item)
            if not row:
                return None
            coded, names = self._codes, self._names
            for other in row:
                if other not in coded:
                    coded[other] = len(names)
                    names.append(other)
            if len(self._arrays) >= ROWS_KEPT:
                self._arrays.clear()
            arrays = self._arrays[item] = (
                np.fromiter(map(coded.__getitem__, row), np.int64, len(row)),
                np.fromiter(row.values(), float, len(row)))
        return arrays

    def _derive(self) -> None:
        """The state derived from the rest, for recommending: left out of snapshots."""
        self._codes: dict[str, int] = {}  # item -> its code in row arrays
        self._names: list[str] = []  # code -> item
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # item -> its row's

    def _prune(self, item: str, row: dict[str, float]) -> None:
        # Keep the best half, so the next prune is max_neighbours/2 new neighbours away.
        ranked = sorted(row.items(), key=itemgetter(1), reverse=True)[: self.max_neighbours // 2]
        self._neighbours[item] = dict(ranked)
        self._totals[item] = sum(count for _, count in ranked)

    def _rescale(self, factor: float) -> None:
        self._arrays.clear()
        for item, row in self._neighbours.items():
            for other in row:
                row[other] *= factor
            self._totals[item] *= factor
