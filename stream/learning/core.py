"""The learner's core: this worker's user and item shards, driven by batches, with no I/O.

Each call takes plain data (decoded records, broadcast changes, the answers of context reads)
and returns what must happen as plain data (a :class:`~stream.learning.plan.Plan`: item steps
and broadcast messages to send, vectors and figures to store). The async shell
(:mod:`stream.learning.shell`) reads and writes; the checkpoint (:mod:`stream.learning.checkpoint`)
makes a plan durable in order. So the whole of learning runs in a unit test, and the benchmark
measures the very code a worker runs.

Item vectors have one writer each (DESIGN decision 1): a user shard learns only the user half of
an embedding step and the core routes the item halves to the item's partition on the item-steps
topic, where the item shard of this or another worker applies them once; the vectors it changes
are stored in Redis and broadcast to every worker, whose user shards retrieve and sample
negatives from that copy. Trending is counted by the item shards and broadcast the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from models.base import ItemInfo
from stream.contracts.internal import (
    Changes,
    encode_steps,
)
from stream.contracts.records import Decoded, Message, Record
from stream.contracts.schemas import (
    ClickEvent,
    Impression,
    PurchaseEvent,
)
from stream.learning.broadcast_copy import BroadcastCopy
from stream.learning.context import ContextAnswers, ContextQuery, WorkerContext
from stream.learning.item_shard import ItemShard, in_messages, route
from stream.learning.plan import Plan
from stream.learning.publish import publish
from stream.learning.user_shard import FACTORS, UserShard, curve, figures
from stream.settings import LearningSettings, TopicSettings

log = logging.getLogger(__name__)
UserEvent = ClickEvent | PurchaseEvent | Impression


class LearnerCore:
    """This worker's shards: adopt and release them, learn batches, plan the exports."""

    def __init__(self, learning: LearningSettings, topics: TopicSettings,
                 exclude_purchased: bool, partition_of: Callable[[str], int]) -> None:
        self.learning = learning
        self.topics = topics
        self.exclude_purchased = exclude_purchased
        self.partition_of = partition_of  # an item's partition: where its steps go
        self.shards: dict[int, UserShard] = {}
        self.item_shards: dict[int, ItemShard] = {}
        self.broadcast = BroadcastCopy()
        self.context = WorkerContext(learning.default_location, learning.max_users_per_shard)
        self._curve_points: dict[int, int] = {}  # user shard -> points of its curve exported
        self._failed = Plan()  # dead letters of what the models failed on, for the next plan
        self.waiting: set[tuple[str, int]] = set()  # see read_first
        self.due = False  # held events learn left due (past ``most``): another call learns them

    def adopt(self, partition: int, shard: UserShard | None, items: ItemShard | None
              ) -> dict[tuple[str, int], int]:
        """Take partition's shards (restored ones, or None for new); return the offsets they
        cover, where the consumer resumes."""
        self.context.partitions_moved()
        if partition not in self.shards:
            shard = shard or UserShard.new(partition, self.learning, self.exclude_purchased)
            self.shards[partition] = shard
            shard.log_evaluated = self.learning.log_evaluated
            for info in self.context.builder.items.values():
                shard.model.observe_item(info)
            self.broadcast.seed(shard)
        if partition not in self.item_shards:
            self.item_shards[partition] = items or ItemShard.new(
                partition, n_factors=FACTORS, min_item_count=self.learning.min_item_count,
                ttl_s=self.learning.state_ttl_s,
                max_trending_scopes=self.learning.max_trending_scopes)
        covered = {(topic, partition): self.shards[partition].offsets.get(topic, 0)
                   for topic in self.topics.user_keyed}
        covered[(self.topics.item_steps, partition)] = self.item_shards[partition].offset
        return covered

    def release(self, partition: int) -> None:
        self.shards.pop(partition, None)
        self.item_shards.pop(partition, None)

    def for_snapshot(self, kind: str, partition: int) -> UserShard | ItemShard | None:
        """The shard to snapshot, after forgetting what its TTL allows (bounded state)."""
        if kind == "user":
            shard = self.shards.get(partition)
            if shard is not None and (users := shard.expire()):
                log.info("shard %d expired %d users", partition, users)
            return shard
        items = self.item_shards.get(partition)
        if items is not None and (expired := items.expire()):
            log.info("item shard %d expired %d items", partition, len(expired))
        return items

    def apply_steps(self, records: Sequence[Record]) -> Plan:
        """Item steps for this worker's item shards, each applied once; a message that cannot
        be applied becomes a dead letter (in the plan) and the shard moves past it."""
        plan = Plan()
        for record in records:
            shard = self.item_shards.get(record.partition)
            if shard is not None and (reason := shard.take(record)):
                plan.dead_letter(self.topics.dlq, record, reason)
        return plan

    def query(self, batch: Sequence[Decoded], now: float) -> ContextQuery:
        """The context facts the batch's interactions need that this worker lacks."""
        return self.context.query([event for _, _, event in self._fresh(batch)], now)

    def take_context(self, query: ContextQuery, answers: ContextAnswers, now: float) -> None:
        self._catalogue(self.context.take(query, answers, now))

    def learn(self, batch: Sequence[Decoded], caught_up: bool,
              ends: Mapping[tuple[str, int], int] | None = None, most: int | None = None) -> Plan:
        """Learn the batch's interactions not covered yet; plan their item steps and exports.

        ``ends`` (highwater offsets of the user-keyed partitions, where known) tell which
        topics have unread records: a shard holds back the events those could precede
        (:mod:`stream.learning.merge`). ``caught_up`` (the fetch reached the partitions' ends)
        closes the open baskets of shards with nothing unread: waiting for the next event would
        leave the last one unlearned for as long as the shop is quiet. A shard learns at most
        ``most`` held events (default: a batch's worth); ``due`` says whether any are left due.
        """
        self._catalogue(self.context.ingested(decoded.event for decoded in batch))
        todo = list(self._fresh(batch))
        covered: set[int] = set()  # shards whose offsets move: their figures say so
        for record in (decoded.record for decoded in batch):  # dead letters covered too
            shard = self.shards.get(record.partition)
            if shard is not None and record.topic in self.topics.user_keyed and (
                    record.offset >= shard.offsets.get(record.topic, 0)):
                shard.offsets[record.topic] = record.offset + 1
                covered.add(record.partition)
        self._arrive(todo)
        touched: dict[int, set[str]] = {}
        self.waiting, self.due = set(), False
        for partition, shard in self.shards.items():
            behind = shard.behind(ends, self.topics.user_keyed)
            users = self._release(shard, behind, caught_up and not behind, most)
            if users or partition in covered:
                touched[partition] = users
            if not (ready := shard.arrivals.ready(behind)):
                self.waiting.update((t, partition) for t in shard.arrivals.waits_for(behind))
            self.due = self.due or ready
        return self._exports(touched)

    def close_baskets(self) -> Plan:
        """Nothing was waiting: learn the open baskets now."""
        self.waiting = set()
        return self._exports(self._close_baskets())

    def _fresh(self, batch: Sequence[Decoded]) -> Iterator[tuple[UserShard, Record, UserEvent]]:
        """The batch's user events on this worker's shards, not covered by them yet."""
        for decoded in batch:
            record, event = decoded.record, decoded.event
            shard = self.shards.get(record.partition)
            if (shard is not None and record.topic in self.topics.user_keyed
                    and isinstance(event, (ClickEvent, PurchaseEvent, Impression))
                    and record.offset >= shard.offsets.get(record.topic, 0)):
                yield shard, record, event

    def _arrive(self, todo: list[tuple[UserShard, Record, UserEvent]]) -> None:
        """The events into their shards' merge."""
        for shard, record, event in todo:
            try:
                shard.arrive(record.topic, record.offset, event, self.context.builder)
            except Exception as exc:  # no I/O here: whatever it is, it is this record's
                log.error("could not learn %s:%d:%d", record.topic, record.partition,
                          record.offset, exc_info=exc)
                self._failed.dead_letter(self.topics.dlq, record,
                                         f"could not be learned: {exc!r}")

    def _release(self, shard: UserShard, behind: set[str], close: bool, most: int | None = None
                 ) -> set[str]:
        """Learn what the shard may learn now (:meth:`UserShard.release`); the users whose
        vectors changed. What the models failed on becomes dead letters (its records are in
        earlier batches: a letter names one by topic, partition and offset)."""
        users, failed = shard.release(behind, close, most)
        for topic, offset, reason in failed:
            self._failed.dead_letter(self.topics.dlq,
                                     Record(topic, shard.partition, offset, None, None), reason)
        return users

    def _close_baskets(self) -> dict[int, set[str]]:
        return {partition: self._release(shard, set(), close=True)
                for partition, shard in self.shards.items()
                if shard.baskets.open or len(shard.arrivals)}

    def _exports(self, touched: dict[int, set[str]]) -> Plan:
        """The touched shards' item steps, ranker examples, figures and users' vectors (a shard
        learns, and so labels, only when it is touched)."""
        plan, self._failed = self._failed, Plan()
        for partition, users in touched.items():
            shard = self.shards[partition]
            plan.messages += step_messages(shard, self.topics, self.partition_of)
            plan.messages += [(self.topics.examples, None, e.request_id.encode(), e.to_json())
                              for e in shard.take_examples()]
            plan.figures[partition] = exported = figures(shard)
            if len(shard.evaluator.curve) != self._curve_points.get(partition):
                # The curve grows by a point per 1,000 interactions: send it only then.
                exported["curve"] = curve(shard)
                self._curve_points[partition] = len(shard.evaluator.curve)
            for user in users:
                vector = shard.embeddings.user_vector(user)
                if vector is not None:
                    plan.user_vectors[user] = vector
        return plan

    def _catalogue(self, infos: Iterable[ItemInfo]) -> None:
        """Catalogue entries for every shard: the models score candidates by bare id."""
        for info in infos:
            self.context.catalogued(info)
            for shard in self.shards.values():
                shard.model.observe_item(info)

    def read_first(self) -> set[tuple[str, int]]:
        """(topic, partition)s to read before the rest. The facts interactions are joined with
        (catalogue, profiles, weather): a replay or a backlog holds them beside the events,
        behind which aiokafka would hand them over, and an interaction learned before its
        item's entry was read has no category or price (HR@20 0.192 against 0.205). Then the
        topics whose unread records the shards wait for to learn what they hold."""
        facts = (self.topics.items, self.topics.users, self.topics.weather)
        return self.waiting | {(topic, partition) for partition in self.shards for topic in facts}

    def item_clock(self) -> float:
        """The latest event time the item shards applied (what their changes cover)."""
        return max((shard.mf.clock for shard in self.item_shards.values()), default=0.0)

    def publish(self) -> Plan:
        """What the item shards changed since the last time (stream/learning/publish.py)."""
        return publish(self.item_shards.values(), self.topics)

    def receive(self, changes: Changes) -> Plan:
        """Item vectors (None: removed) and trending parts from the broadcast into every user
        shard; what could not be decoded becomes a dead letter."""
        plan = Plan()
        for record, reason in changes.rejected:
            plan.dead_letter(self.topics.dlq, record, reason)
        self.broadcast.take(changes, self.shards.values())
        return plan


def step_messages(shard: UserShard, topics: TopicSettings, partition_of: Callable[[str], int]
                  ) -> list[Message]:
    """A user shard's item halves, as messages per item partition, each with the shard's
    watermark (how far the steps it sent cover its topics)."""
    steps = shard.embeddings.take_item_steps()
    watermark = shard.watermark((topics.clicks, topics.purchases)) if steps else {}
    return [(topics.item_steps, target, str(shard.partition).encode(),
             encode_steps(shard.partition, mark, part))
            for target, targeted in route(steps, partition_of).items()
            for part, mark in in_messages(targeted, watermark)]
