"""Prequential (test-then-train) evaluation of recommenders on an interaction stream.

The protocol, the same for every system compared:

1. Interactions are read in stream order. Consecutive interactions sharing
   ``(user_id, session_id, ts)`` form one *basket* (the lines of one invoice, or a single click;
   see :class:`models.baskets.Baskets`).
2. **Test.** For each basket, every system recommends ``k`` items once, for the basket's user
   in the first line's context, before any line of the basket is learned. Each distinct item of
   the basket is a target, scored against that list (HR, MRR, NDCG at k, see
   :mod:`models.metrics`).
3. With ``exclude_purchased``, recommendations exclude what the user bought in earlier baskets,
   and a target the user bought before is not scored for any system: it could never have been
   recommended, and counting it as a miss would only measure the repurchase rate.
4. **Train.** Then every system learns every line of the basket, repeats included.
5. With ``sample_every`` = n, only every n-th basket is tested (the same ones for all systems);
   every basket is learned.
6. **Coverage.** Each scored test of a user with an earlier basket counts, per system, whether
   the list was personalised or a fallback (:class:`models.coverage.Coverage`).

An owner of a live model can let the evaluator only watch it: per basket, :meth:`test
<PrequentialEvaluator.test>`, learn the lines itself, then :meth:`record
<PrequentialEvaluator.record>` (:meth:`PrequentialEvaluator.process_basket` is test, train,
record).

Catalogue entries (:class:`ItemInfo`) may be mixed into the stream: they reach every system's
``observe_item`` as they arrive, including one that arrives between two lines of a basket, which
is seen before the basket is tested: the catalogue is not a label.

>>> from models.base import Interaction, Recommender, Scored
>>> class LastItem(Recommender):
...     "Recommends the last item it learned."
...     def __init__(self): self.last = None
...     def learn_one(self, interaction): self.last = interaction.item_id
...     def recommend(self, user_id, k, context, exclude=()):
...         return [] if self.last in (None, *exclude) else [Scored(self.last, 1.0)]
>>> stream = [Interaction("u1", "a", ts=1.0),                  # nothing learned yet: a miss
...           Interaction("u2", "b", ts=2.0, session_id="o1"),  # one basket, scored once
...           Interaction("u2", "a", ts=2.0, session_id="o1")]  # against ["a"]: a hit
>>> evaluator = PrequentialEvaluator({"last": LastItem()}, k=20, exclude_purchased=False)
>>> evaluator.run(stream).result("toy")["systems"]["last"]
{'hr@20': 0.3333333333333333, 'mrr@20': 0.3333333333333333, 'ndcg@20': 0.3333333333333333}
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from models.base import Interaction, ItemInfo, Recommender, Scored
from models.baskets import Baskets
from models.coverage import Coverage
from models.metrics import RankingMetrics

__all__ = ["PrequentialEvaluator"]


class PrequentialEvaluator:
    """Tests then trains ``systems`` on a stream, accumulating ranking metrics at ``k``.

    ``window`` is the length of the rolling metrics; every ``curve_every`` interactions the
    rolling HR@k of each system is recorded for :meth:`plot`. :meth:`result` also reports each
    system's mean time per recommendation and per learned interaction, measured on the way.
    """

    def __init__(self, systems: Mapping[str, Recommender], k: int = 20,
                 exclude_purchased: bool = True, window: int | None = 1000,
                 curve_every: int = 1000, sample_every: int = 1,
                 report_both: bool = False) -> None:
        self.systems = dict(systems)
        self.k = k
        self.exclude_purchased = exclude_purchased
        self.window = window
        self.curve_every = curve_every
        self.sample_every = sample_every
        # With report_both, the other protocol (purchases not excluded) is measured beside it.
        self.report_both = report_both
        self.metrics = {name: RankingMetrics(k=k, window=window) for name in self.systems}
        self.metrics_other = {name: RankingMetrics(k=k, window=window) for name in self.systems}
        self.coverage = {name: Coverage() for name in self.systems}
        self._known: set[str] = set()  # users with a learned basket: coverage counts their asks
        self.events = 0
        self.baskets = 0
        self.skipped_repeats = 0
        self.curve: list[tuple[int, dict[str, float]]] = []
        self._purchased: dict[str, set[str]] = {}
        self._recommend_s = dict.fromkeys(self.systems, 0.0)
        self._learn_s = dict.fromkeys(self.systems, 0.0)
        self._recommend_calls = 0
        self._basket_policy = Baskets()
        # Each system's list in the latest test (main protocol), until the next: what an owner
        # logs as the list the basket was scored on.
        self.listed: dict[str, list[Scored]] = {}

    def run(self, stream: Iterable[Interaction | ItemInfo]) -> PrequentialEvaluator:
        for event in stream:
            self.feed(event)
        self.flush()
        return self

    def feed(self, event: Interaction | ItemInfo) -> None:
        """Take one event of the stream; a basket is processed once the next one begins.

        For streaming use (a worker feeds batch after batch): the open basket is part of the
        evaluator's state, so a snapshot taken between two batches resumes mid-basket.
        """
        if isinstance(event, ItemInfo):
            for system in self.systems.values():
                system.observe_item(event)
            return
        closed = self._basket_policy.feed(event)
        if closed:
            self.process_basket(closed)

    @property
    def open_basket(self) -> tuple[Interaction, ...]:
        """The lines fed but not learned yet: their basket is still open."""
        return self._basket_policy.open

    def flush(self) -> None:
        """Process the open basket (at the end of a stream)."""
        closed = self._basket_policy.flush()
        if closed:
            self.process_basket(closed)

    def forget_users(self, users: Iterable[str]) -> None:
        """Drop the purchases remembered of these users (their owner forgot them too)."""
        for user in users:
            self._purchased.pop(user, None)
            self._known.discard(user)

    def process_basket(self, basket: Sequence[Interaction]) -> None:
        """Test then train on the lines of one basket (see the module's protocol)."""
        self.test(basket)
        self.train(basket)
        self.record(basket)

    def test(self, basket: Sequence[Interaction]) -> None:
        """If this basket is sampled, every system recommends once and the metrics update.

        Nothing is learned. The sample is every ``sample_every``-th basket recorded, so each
        call is followed by :meth:`record` of the same basket before the next test.
        """
        self.listed = {}
        if self.baskets % self.sample_every:
            return
        first = basket[0]
        purchased = self._purchased.get(first.user_id, set())
        targets = list(dict.fromkeys(line.item_id for line in basket))
        if self.report_both:
            self._score(first, targets, purchased, not self.exclude_purchased,
                        self.metrics_other)
        self._score(first, targets, purchased, self.exclude_purchased, self.metrics)

    def train(self, basket: Sequence[Interaction]) -> None:
        """Every system learns every line of the basket, in order (timed, per system)."""
        for name, system in self.systems.items():
            started = time.perf_counter()
            for line in basket:
                system.learn_one(line)
            self._learn_s[name] += time.perf_counter() - started

    def record(self, basket: Sequence[Interaction]) -> None:
        """Bookkeeping once the basket is learned: the user's purchases (excluded from later
        tests), the basket and event counts, and a point of the curve when one is due."""
        purchases = {line.item_id for line in basket if line.kind == "purchase"}
        if purchases:
            self._purchased.setdefault(basket[0].user_id, set()).update(purchases)
        self._known.add(basket[0].user_id)
        self.baskets += 1
        before = self.events // self.curve_every
        self.events += len(basket)
        if self.events // self.curve_every > before:
            self._record_curve()

    def _score(self, first: Interaction, targets: list[str], purchased: set[str],
               exclude_purchased: bool, metrics: dict[str, RankingMetrics]) -> None:
        if exclude_purchased:
            scored = [t for t in targets if t not in purchased]
            if metrics is self.metrics:
                self.skipped_repeats += len(targets) - len(scored)
            exclude: Iterable[str] = purchased
        else:
            scored, exclude = targets, ()
        if not scored:
            return
        context = first.context
        main = metrics is self.metrics
        self._recommend_calls += main
        known = main and first.user_id in self._known
        for name, system in self.systems.items():
            started = time.perf_counter()
            listed = system.recommend(first.user_id, self.k, context, exclude)
            self._recommend_s[name] += time.perf_counter() - started
            if main:
                self.listed[name] = listed
            if known:
                self.coverage[name].update(context.location, listed)
            ranked = [s.item_id for s in listed]
            for target in scored:
                metrics[name].update(ranked, target)

    def _record_curve(self) -> None:
        key = f"rolling_hr@{self.k}" if self.window else f"hr@{self.k}"
        self.curve.append((self.events, {name: m.get()[key] for name, m in self.metrics.items()}))

    def result(self, stream_name: str) -> dict[str, Any]:
        k = self.k
        keys = (f"hr@{k}", f"mrr@{k}", f"ndcg@{k}")
        calls = max(self._recommend_calls, 1)
        other = {}
        if self.report_both:
            other = {"other_protocol": {
                "exclude_purchased": not self.exclude_purchased,
                "systems": {name: {key: m.get()[key] for key in keys}
                            for name, m in self.metrics_other.items()}}}
        return {
            "stream": stream_name,
            "events": self.events,
            "baskets": self.baskets,
            "targets": next(iter(self.metrics.values())).get()["n"] if self.metrics else 0,
            "skipped_repeats": self.skipped_repeats,
            "systems": {name: {key: m.get()[key] for key in keys}
                        for name, m in self.metrics.items()},
            "coverage": {name: c.get() for name, c in self.coverage.items()},
            "timing": {name: {"recommend_ms": 1e3 * self._recommend_s[name] / calls,
                              "learn_us": 1e6 * self._learn_s[name] / max(self.events, 1)}
                       for name in self.systems},
            **other,
        }

    def plot(self, path: str | Path) -> None:
        """A PNG of each system's rolling HR@k over the stream."""
        try:
            import matplotlib
        except ImportError as error:
            raise ImportError("plotting needs matplotlib: pip install 'recstream[plot]'") from error
        matplotlib.use("Agg")  # files only: no display on workers or CI
        from matplotlib import pyplot as plt

        fig, ax = plt.subplots(figsize=(9, 4.5))
        xs = [events for events, _ in self.curve]
        for name in self.systems:
            ax.plot(xs, [values[name] for _, values in self.curve], label=name)
        span = f"rolling over {self.window} targets" if self.window else "cumulative"
        ax.set(xlabel="interactions", ylabel=f"HR@{self.k} ({span})",
               title=f"Prequential HR@{self.k}")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)

    def __repr__(self) -> str:
        return (f"PrequentialEvaluator(systems={list(self.systems)!r}, k={self.k!r}, "
                f"exclude_purchased={self.exclude_purchased!r}, window={self.window!r}, "
                f"curve_every={self.curve_every!r}, sample_every={self.sample_every!r})")

