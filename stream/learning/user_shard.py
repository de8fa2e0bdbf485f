"""A user shard: everything learned from one partition's users, and the offsets it covers.

Clicks and purchases are keyed by user, so partition ``p`` of both topics holds the same users;
the worker that owns ``p`` owns shard ``p``: the live recommender that learns from those users
(and will answer their requests, DESIGN decision 2), the basket policy that decides when a line
is learned, and the prequential evaluator that watches the model (test-then-train: every basket
is scored before it is learned). A shard is snapshotted with the offsets it covers and restored
when a worker takes the partition over, which then replays from those offsets: every interaction
is learned once per shard, none twice (``learned`` counts them).

>>> from models.base import Interaction
>>> from stream.settings import LearningSettings
>>> shard = UserShard.new(0, LearningSettings(), exclude_purchased=True)
>>> shard.feed(Interaction("ann", "tea", ts=1.0, session_id="o1", origin=("clicks", 0)))
()
>>> [line.item_id for line in shard.feed(Interaction("ann", "jam", ts=9.0, origin=("clicks", 1)))]
['tea']
>>> shard.learned, [line.item_id for line in shard.baskets.open]
(1, ['jam'])
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from models.base import Context, Interaction, Origin
from models.baskets import Baskets
from models.embeddings import OnlineMF
from models.evaluation import PrequentialEvaluator
from models.hybrid import TRENDING_HALF_LIFE_S, HybridRecommender
from models.ranker.memory import RankerMemory
from models.ranker.online import OnlineFeatures
from models.ranker.serving import LiveRanker, RankerScorer
from models.reranked import ContextReranked
from models.trending import Trending
from stream.contracts.examples import RankerExample
from stream.contracts.internal import ScopeBest
from stream.contracts.schemas import ClickEvent, Impression, PurchaseEvent
from stream.learning.examples import evaluated, served
from stream.learning.interactions import InteractionBuilder
from stream.learning.merge import EventTimeMerge
from stream.settings import LearningSettings

log = logging.getLogger(__name__)
SYSTEM = "recstream"
# Dimensions of the user and item vectors, the same in every worker (they travel between them).
FACTORS = 32


def recstream_model(partition: int, learning: LearningSettings, distributed: bool = True
                    ) -> ContextReranked:
    """The live model of a user shard, as every worker builds it.

    Item halves of embedding steps are deferred: the item's own shard applies them (one writer
    per item). Trending comes by broadcast too: the items' shards count every interaction.
    ``distributed`` False builds its in-process twin (`recstream evaluate`): the same model,
    configured alike, that learns its item halves and trending itself, as one process would.
    """
    return ContextReranked(seed=partition, recommender=HybridRecommender(
        mf=OnlineMF(n_factors=FACTORS, min_item_count=learning.min_item_count,
                    ttl_s=learning.state_ttl_s, defer_item_steps=distributed),
        trending=Trending(half_life_s=TRENDING_HALF_LIFE_S,
                          max_scopes=learning.max_trending_scopes),
        learn_trending=not distributed))


def bind_ranker(model: ContextReranked, memory: RankerMemory, live: LiveRanker) -> None:
    """Let ``model`` re-rank with ``live``, its features reading the model and ``memory``. The
    learner binds every shard it adopts; a restored shard holds an empty copy of the ranker,
    which this replaces, and a model already ranking with ``live`` keeps its scorer."""
    scorer = model.scorer_
    if not (isinstance(scorer, RankerScorer) and scorer.live is live):
        model.use_scorer(RankerScorer(live, OnlineFeatures(model, memory)))


class Shown(NamedTuple):
    """An impression held in a shard's merge, with its context and where it was read."""

    impression: Impression
    context: Context
    origin: Origin


# At equal times the funnel's order holds whatever order the topics were read in: what was shown,
# then clicked, then bought.
_FUNNEL: dict[type, int] = {Impression: 0, ClickEvent: 1, PurchaseEvent: 2}
# Held events a shard learns per batch at most, a batch's worth (`batch_size`' default): a
# backlog released at once (the topic it waited for came in) would hold the event loop, and with
# it the group's heartbeats, for as long as it takes (a 30 s batch cost a worker its partitions;
# at `evaluate`'s scoring of every basket an event costs 3 to 10 ms); the rest goes in the next
# batches, and meanwhile the consumer reads nothing first for the shard.
RELEASED_PER_BATCH = 500
# A line the models failed on, to become a dead letter: (topic, offset, reason).
Failed = tuple[str, int, str]


class BasketFailed(Exception):
    """The models failed on a basket; its lines are to become dead letters."""

    def __init__(self, basket: tuple[Interaction, ...], cause: Exception) -> None:
        super().__init__(f"could not be learned: {cause!r}")
        self.basket = basket

    def origins(self) -> list[tuple[str, int]]:
        """Where the stream found each line: (topic, offset)."""
        return [line.origin if line.origin is not None else ("", -1) for line in self.basket]


@dataclass
class UserShard:
    """The live model of one partition's users, its basket policy and its watching evaluator."""

    partition: int
    model: ContextReranked
    evaluator: PrequentialEvaluator
    baskets: Baskets = field(default_factory=Baskets)
    offsets: dict[str, int] = field(default_factory=dict)  # topic -> next offset covered
    learned: int = 0
    max_users: int = 50_000
    ttl_s: float | None = None
    # user -> the time of their latest line, least recently active first: what to forget.
    seen: dict[str, float] = field(default_factory=dict)
    clock: float = float("-inf")  # the latest event time fed: the TTL counts from it
    # Events read but held back until no unread record of another topic can precede them
    # (stream/learning/merge.py): lines to feed, impressions to show.
    arrivals: EventTimeMerge = field(default_factory=EventTimeMerge)
    memory: RankerMemory = field(default_factory=RankerMemory)
    # The ranker's examples to write (stream/learning/examples.py); with log_evaluated (set by
    # the owner from its settings) the evaluator's scored lists are examples too.
    examples: list[RankerExample] = field(default_factory=list)
    log_evaluated: bool = False

    @classmethod
    def new(cls, partition: int, learning: LearningSettings, exclude_purchased: bool
            ) -> UserShard:
        model = recstream_model(partition, learning)
        evaluator = PrequentialEvaluator({SYSTEM: model}, k=20,
                                         exclude_purchased=exclude_purchased,
                                         sample_every=learning.eval_sample_every,
                                         report_both=learning.eval_report_both)
        return cls(partition, model, evaluator, max_users=learning.max_users_per_shard,
                   ttl_s=learning.state_ttl_s,
                   arrivals=EventTimeMerge(max_held=learning.max_held_events))

    @property
    def embeddings(self) -> OnlineMF:
        return self.model.embeddings

    @property
    def read_to(self) -> float:
        """The latest event time this shard has read, learned or still held: what it shows
        now is logged at this time (see :func:`stream.serving.answer.rank`)."""
        return max([self.clock, *self.arrivals.latest.values()])

    def rank_with(self, live: LiveRanker) -> None:
        """Re-rank with the worker's live ranker (see :func:`bind_ranker`)."""
        bind_ranker(self.model, self.memory, live)

    def feed(self, line: Interaction) -> tuple[Interaction, ...]:
        """Take a line; learn the basket it closes, if any, and return it (else empty).

        A basket (an invoice's lines) is learned when the next one begins, so it is scored once
        before any of its lines is learned.
        """
        self.seen.pop(line.user_id, None)
        self.seen[line.user_id] = line.ts
        self.clock = max(self.clock, line.ts)
        closed = self.baskets.feed(line)
        if closed:
            self._learn(closed)
        return closed or ()

    def close_basket(self) -> tuple[Interaction, ...]:
        """Learn the open basket now (nothing more is queued); return it."""
        closed = self.baskets.flush()
        if closed:
            self._learn(closed)
        return closed or ()

    def _learn(self, basket: tuple[Interaction, ...]) -> None:
        """Test then train: the evaluator scores the recommendation before the model learns.

        A basket the models fail on (a bug, or input no check foresaw) is not learned further:
        :class:`BasketFailed` names it, so its lines become dead letters and the shard goes on.
        """
        drifts = self.model.drifts
        try:
            self.evaluator.test(basket)
            if self.log_evaluated:
                self.examples += evaluated(self.partition, SYSTEM, self.evaluator, self.model,
                                           self.memory, basket)
            for line in basket:
                self.model.learn_one(line)
                self.memory.learn_one(line)
        except Exception as exc:  # no I/O here: whatever it is, it is this basket's
            log.exception("shard %d could not learn a basket of %d lines", self.partition,
                          len(basket))
            raise BasketFailed(basket, exc) from exc
        self.evaluator.record(basket)
        self.learned += len(basket)
        if self.model.drifts > drifts:
            log.warning("ALERT drift in shard %d's context model at ts %.0f (log loss %.4f)",
                        self.partition, basket[-1].ts, self.model.context_logloss)

    def arrive(self, topic: str, offset: int, event: ClickEvent | PurchaseEvent | Impression,
               builder: InteractionBuilder) -> None:
        """An event read at ``offset`` of ``topic``, joined with its context, into the merge."""
        ts = event.ts.timestamp()
        line: Interaction | Shown
        if isinstance(event, Impression):
            line = Shown(event, builder.context(event.user_id, event.location, ts),
                         (topic, offset))
        else:
            line = builder.interaction(event, origin=(topic, offset))
        self.arrivals.add(topic, offset, ts, _FUNNEL[type(event)], line)

    def behind(self, ends: Mapping[tuple[str, int], int] | None, topics: Iterable[str]
               ) -> set[str]:
        """Of ``topics``, those with records past the ones this shard was given, by their
        ``ends`` (highwater offsets; unknown: none)."""
        if ends is None:
            return set()
        return {topic for topic in topics
                if ends.get((topic, self.partition), 0) > self.offsets.get(topic, 0)}

    def release(self, behind: Collection[str] = (), close: bool = False,
                most: int | None = None) -> tuple[set[str], list[Failed]]:
        """Learn, in event time, the held events that no unread record of the topics ``behind``
        can precede (:mod:`stream.learning.merge`); with ``close`` (nothing more is queued),
        everything held and then the open basket. At most ``most`` (default
        ``RELEASED_PER_BATCH``; the rest stay due). The users whose vectors changed, and the
        lines the models failed on (the shard goes on without them)."""
        users: set[str] = set()
        failed: list[Failed] = []
        for line in self.arrivals.due(() if close else behind,
                                      RELEASED_PER_BATCH if most is None else most):
            try:
                if isinstance(line, Shown):
                    self.shown(line.impression, line.context)
                else:
                    users.update(i.user_id for i in self.feed(line))
            except BasketFailed as exc:
                failed.extend((topic, offset, str(exc)) for topic, offset in exc.origins())
            except Exception as exc:  # no I/O here: whatever it is, it is this line's
                log.exception("shard %d could not learn %s", self.partition, line.origin)
                topic, offset = line.origin or ("", -1)
                failed.append((topic, offset, f"could not be learned: {exc!r}"))
        if close and not len(self.arrivals):
            try:
                users.update(line.user_id for line in self.close_basket())
            except BasketFailed as exc:
                failed.extend((topic, offset, str(exc)) for topic, offset in exc.origins())
        return users, failed

    def shown(self, impression: Impression, context: Context) -> None:
        rows = impression.features.rows() if impression.features is not None else None
        self.model.shown(impression.request_id, impression.user_id, impression.item_ids,
                         context, rows)

    def take_examples(self) -> list[RankerExample]:
        """The ranker's examples labelled since the last call, to write."""
        taken, self.examples = self.examples + served(self.model.take_logged()), []
        return taken

    def watermark(self, topics: tuple[str, ...]) -> dict[str, int]:
        """Per topic, the offset below which every event is learned (the open basket's lines
        are fed, not learned, and held events not even fed: their item steps are to come)."""
        watermark = {topic: self.offsets[topic] for topic in topics if topic in self.offsets}
        for topic, offset in self.arrivals.lowest().items():
            if topic in watermark:
                watermark[topic] = min(watermark[topic], offset)
        for line in self.baskets.open:
            if line.origin is not None and line.origin[0] in watermark:
                topic, offset = line.origin
                watermark[topic] = min(watermark[topic], offset)
        return watermark

    def expire(self) -> int:
        """Forget users unseen for the TTL (in event time), and beyond ``max_users`` those
        unseen longest; how many went. Every model and the evaluator forget them, so memory
        follows the active users. (Items go when their owner broadcasts their removal.)"""
        self.embeddings.expire(self.embeddings.clock)
        before = self.clock - self.ttl_s if self.ttl_s is not None else None
        keep = {line.user_id for line in self.baskets.open}  # their lines are still to learn
        going = [user for user, ts in self.seen.items()
                 if before is not None and ts < before and user not in keep]
        excess = len(self.seen) - len(going) - self.max_users
        if excess > 0:
            gone = set(going)
            going += [user for user in self.seen
                      if user not in gone and user not in keep][:excess]
        for user in going:
            del self.seen[user]
        self.model.forget_users(going)
        self.memory.forget_users(going)
        self.evaluator.forget_users(going)
        return len(going)

    def take_scope(self, source: int, scope: str, part: ScopeBest) -> None:
        """An item shard's part of a trending scope, from the broadcast."""
        self.model.take_trending_part(source, scope, part.landmark, part.mass, part.best,
                                      part.gone)

    def forget_scope(self, scope: str) -> None:
        """Forget a trending scope whole (an item shard dropped its part of it)."""
        self.model.forget_trending_scope(scope)

def curve(shard: UserShard) -> str:
    """A shard's rolling HR over the stream (a point per 1,000 interactions), for plots."""
    return json.dumps([(n, values[SYSTEM]) for n, values in shard.evaluator.curve[-1000:]])


def figures(shard: UserShard) -> dict[str, Any]:
    """What a shard exports with every batch: its counts, offsets and metric sums."""
    metrics = shard.evaluator.metrics[SYSTEM]
    summary = shard.model.context_summary()
    return {
        "learned": shard.learned,
        "impressions": shard.model.impressions,
        "joined_labels": shard.model.joined_labels,
        "offsets": json.dumps(shard.offsets),
        "metrics": json.dumps(metrics.to_sums()),
        "metrics_other": json.dumps(shard.evaluator.metrics_other[SYSTEM].to_sums()),
        "coverage": json.dumps(shard.evaluator.coverage[SYSTEM].to_sums()),
        "rolling": json.dumps(metrics.get()),
        "logloss": summary.get("logloss", 0.0),
        "auc": summary.get("auc", 0.0),
        "drifts": summary.get("drifts", 0),
        "users": shard.embeddings.n_users,
        "items": shard.embeddings.n_items,
        # The latest event time learned: live, how far learning trails the shop is now minus it.
        **({"learned_to": shard.clock} if math.isfinite(shard.clock) else {}),
    }
