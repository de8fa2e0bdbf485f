"""Labelled rows for the ranker, from a replay of a shop's interactions through the online model.

A replay learns test-then-train as the worker does. At the first line of a basket (a user's
lines of one session), before any of them is learned, the model is asked for the user's
``candidates`` best items in the basket's context: what it would have shown, the impression. The
candidates its re-ranking step scores (in the candidate generator's order, as a ranker in a
worker receives them) become rows, computed by :class:`~models.ranker.online.OnlineFeatures` at
that moment;
the basket's own lines are the interactions the impression is joined with, so a listed item the
basket holds is a positive, every other a negative. The rows of one impression share a
``request`` number: NDCG is measured per request.

>>> from models.base import Interaction
>>> from models.ranker.memory import RankerMemory
>>> from models.reranked import ContextReranked
>>> shop = [Interaction(u, i, ts=float(t), session_id=f"{u}{t // 3}", kind="purchase")
...         for t in range(30) for u, i in [("ann", ["tea", "jam"][t % 2]), ("bob", "tea")]]
>>> table = replay(shop, ContextReranked(seed=1), RankerMemory(), candidates=5)
>>> table.n_requests, int(table.label.sum()) > 0, table.ids.shape[1], table.dense.shape[1]
(19, True, 7, 7)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

from models.base import Context, Interaction, ItemInfo, Scorer
from models.ranker.memory import RankerMemory
from models.ranker.online import OnlineFeatures
from models.ranker.table import Examples
from models.reranked import ContextReranked

__all__ = ["ImpressionLog", "replay"]


class _Listing:
    """The re-ranking scorer during a replay: River's scores, and a note of what it was asked."""

    def __init__(self, river: Scorer) -> None:
        self.river = river
        self.asked: tuple[str, list[str], Context] | None = None

    def score(self, user_id: str, items: Sequence[ItemInfo | str], context: Context
              ) -> np.ndarray:
        self.asked = (user_id, [i.item_id if isinstance(i, ItemInfo) else i for i in items],
                      context)
        return self.river.score(user_id, items, context)


class _Shown(NamedTuple):
    request: int
    items: list[str]


class ImpressionLog:
    """A replay's rows as it goes: feed it the stream event by event, read :meth:`rows` at any
    moment. It owns ``model`` and ``memory`` (it learns them) and lists with River's scores, so
    a replay that compares systems (stream/ranker/walk_forward.py) runs it beside them and
    trains on what it had logged by each moment, as a retrain job reads an impression log."""

    def __init__(self, model: ContextReranked, memory: RankerMemory, candidates: int = 100,
                 every: int = 1) -> None:
        self.model = model
        self.memory = memory
        self.candidates = candidates
        self.every = every
        self.features = OnlineFeatures(model, memory)
        self._listing = _Listing(model.context_scorer)
        model.use_scorer(self._listing)
        self._ids: list[np.ndarray] = []
        self._dense: list[np.ndarray] = []
        self._labels: list[np.ndarray] = []
        self._requests: list[int] = []
        self._times: list[float] = []
        self._baskets = 0
        self._sessions: dict[str, str | float] = {}  # user -> the session of their open basket
        self._shown_to: dict[str, _Shown] = {}  # user -> their open basket's impression, if any

    def feed(self, x: Interaction | ItemInfo) -> None:
        """One event: at a basket's first line, log the impression before learning any line;
        label it with the basket's lines as they come; then learn the line."""
        if isinstance(x, ItemInfo):
            self.model.observe_item(x)
            return
        session = x.session_id if x.session_id is not None else x.ts
        if self._sessions.get(x.user_id) != session:  # a basket begins: list before learning
            self._sessions[x.user_id] = session
            self._shown_to.pop(x.user_id, None)
            self._baskets += 1
            if self._baskets % self.every == 0:
                self._log(x)
        shown = self._shown_to.get(x.user_id)
        if shown is not None and x.item_id in shown.items:
            self._labels[shown.request][shown.items.index(x.item_id)] = 1
        self.model.learn_one(x)
        self.memory.learn_one(x)

    def _log(self, x: Interaction) -> None:
        self._listing.asked = None
        self.model.recommend(x.user_id, self.candidates, x.context)
        if self._listing.asked is None:  # nothing to list yet
            return
        user_id, listed, context = self._listing.asked
        request = len(self._times)
        self._shown_to[x.user_id] = _Shown(request, listed)
        inputs = self.features.inputs(user_id, listed, context)
        self._ids.append(inputs.ids)
        self._dense.append(inputs.dense)
        self._labels.append(np.zeros(len(listed), dtype=np.int8))
        self._requests.extend([request] * len(listed))
        self._times.append(x.ts)

    @property
    def n_requests(self) -> int:
        return len(self._times)

    def rows(self) -> Examples:
        """The rows logged so far, labelled with what has been seen so far (a copy)."""
        if not self._times:
            raise ValueError("the replay listed no candidates: the stream is empty or too short")
        return Examples(ids=np.concatenate(self._ids), dense=np.concatenate(self._dense),
                        label=np.concatenate(self._labels),
                        request=np.array(self._requests, dtype=np.int32),
                        request_ts=np.array(self._times, dtype=np.float64))


def replay(stream: Iterable[Interaction | ItemInfo], model: ContextReranked,
           memory: RankerMemory, candidates: int = 100, every: int = 1) -> Examples:
    """Learn ``stream`` in order; at every ``every``-th basket, first log what the model's
    re-ranking step scores when asked for ``candidates`` items (at least the model's own
    ``candidates``) as an impression, and label its rows with the basket's items."""
    log = ImpressionLog(model, memory, candidates, every)
    for x in stream:
        log.feed(x)
    model.use_scorer(None)
    return log.rows()
