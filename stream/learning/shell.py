"""Online learning in the worker: one model shard per partition, test-then-train, snapshotted.

Clicks and purchases are keyed by user, so partition ``p`` of both topics holds the same users;
the worker that owns ``p`` owns shard ``p``: the recommender that learns from those users (and
will answer their requests, DESIGN decision 2), its contextual River model and its prequential
metrics. A shard is snapshotted with the offsets it covers (HMAC-signed, see stream/snapshots.py)
and restored when a worker takes the partition over, which then replays from those offsets: every
interaction is learned once per shard, none twice (``learned`` counts them).

Item vectors have one writer each (DESIGN decision 1): a user shard learns only the user half of
an embedding step and routes the item halves to the item's partition on the item-steps topic
(stream/item_steps.py), where the item shard of this or another worker applies them once; the
vectors it changes are stored in Redis and broadcast to every worker (stream/broadcast.py), whose
user shards retrieve and sample negatives from that copy. Co-visitation and trending are still
learned per user shard from its users' sessions (what a session saw is on the user's partition).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from typing import Protocol

import numpy as np
from redis.asyncio import Redis

from models.base import Context, Interaction, ItemInfo
from models.embeddings import OnlineMF, pack
from models.evaluation import PrequentialEvaluator
from models.hybrid import HybridRecommender
from models.reranked import ContextReranked
from stream.learning import item_shard as item_steps
from stream.transport.broadcast import Changes, ScopeBest, encode_scope, encode_vector, scope_key
from stream.learning.interactions import InteractionBuilder, Weather
from stream.learning.item_shard import ItemShard
from stream.contracts.schemas import ClickEvent, Impression, ItemUpsert, PurchaseEvent, UserProfile
from stream.settings import Settings
from stream.store.snapshots import SnapshotCodec, SnapshotRejected
from stream.store.state import Decoded, Keys, Record

log = logging.getLogger(__name__)
SYSTEM = "recstream"
# Binary-safe: vectors travel as arguments, the TTL (seconds) last.
UNCATALOGUED_RECHECK_S = 60.0
_FUNNEL = {Impression: 0, ClickEvent: 1, PurchaseEvent: 2}
_SET_WITH_TTL = """
local ttl = ARGV[#ARGV]
for i, key in ipairs(KEYS) do redis.call('SET', key, ARGV[i], 'EX', ttl) end
return #KEYS
"""

# Item scores in the trending sorted sets (their one writer is the item's shard, so no two
# workers race on a member), then each set cut to its best TRENDING_KEPT.
_SET_TRENDING = """
local kept = tonumber(ARGV[2])
local touched = {}
for _, op in ipairs(cjson.decode(ARGV[1])) do
  redis.call('ZADD', op[1], op[2], op[3])
  touched[op[1]] = true
end
for key, _ in pairs(touched) do redis.call('ZREMRANGEBYRANK', key, 0, -kept - 1) end
return 0
"""
# Items kept per trending scope in Redis: far more than a request's candidates.
TRENDING_KEPT = 1000


@dataclass
class Shard:
    """Everything learned from one partition's users, and the offsets it covers."""

    partition: int
    evaluator: PrequentialEvaluator
    offsets: dict[str, int] = field(default_factory=dict)  # topic -> next offset covered
    learned: int = 0

    @classmethod
    def new(cls, partition: int, settings: Settings) -> Shard:
        # Item halves are deferred: the item's own shard applies them (one writer per item).
        # Trending comes by broadcast too: the items' shards count every interaction.
        model = ContextReranked(seed=partition, recommender=HybridRecommender(
            mf=OnlineMF(min_item_count=settings.learning.min_item_count, ttl_s=settings.learning.state_ttl_s,
                        defer_item_steps=True), learn_trending=False))
        return cls(
            partition=partition,
            evaluator=PrequentialEvaluator({SYSTEM: model}, k=20,
                                           exclude_purchased=settings.serving.exclude_purchased,
                                           sample_every=settings.learning.eval_sample_every,
                                           report_both=settings.learning.eval_report_both),
        )

    @property
    def model(self) -> ContextReranked:
        return self.evaluator.systems[SYSTEM]  # type: ignore[return-value]

    @property
    def embeddings(self) -> OnlineMF:
        return self.model.recommender_.mf_  # type: ignore[return-value]

    def expire(self) -> int:
        """Forget users unseen for the TTL (in event time); how many went. (Items go when
        their owner broadcasts their removal.)"""
        users, _ = self.embeddings.expire(self.embeddings.clock)
        return len(users)

    def shown(self, impression: Impression, context: Context) -> None:
        self.model.shown(impression.request_id, impression.user_id, impression.item_ids,
                         context)

    def learn(self, interaction: Interaction) -> None:
        """Test then train: the evaluator scores the recommendation before learning it."""
        drifts = self.model.context_model_.drifts
        self.evaluator.feed(interaction)
        if self.model.context_model_.drifts > drifts:
            log.warning("ALERT drift in shard %d's context model at ts %.0f (log loss %.4f)",
                        self.partition, interaction.ts,
                        self.model.context_model_.logloss.get())
        self.learned += 1

    def take_vector(self, item: str, vector: tuple[np.ndarray, float] | None) -> None:
        """An item's vector and TTL clock from the broadcast (None: removed)."""
        if vector is None:
            self.embeddings.drop_item(item)
        else:
            self.embeddings.set_item_vector(item, *vector)

    def take_scope(self, source: int, scope: str, part: ScopeBest) -> None:
        """An item shard's part of a trending scope, from the broadcast."""
        self.model.recommender_.trending_.take_best(source, scope, part.landmark, part.mass,
                                                    part.best, part.gone)

    def curve(self) -> str:
        """The rolling HR over the stream (a point per 1,000 interactions), for plots."""
        return json.dumps([(n, values[SYSTEM]) for n, values in self.evaluator.curve[-1000:]])

    def figures(self) -> dict[str, Any]:
        metrics = self.evaluator.metrics[SYSTEM]
        summary = self.model.context_model_.summary()
        return {
            "learned": self.learned,
            "impressions": self.model.impressions,
            "joined_labels": self.model.joined_labels,
            "offsets": json.dumps(self.offsets),
            "metrics": json.dumps(metrics.to_sums()),
            "metrics_other": json.dumps(self.evaluator.metrics_other[SYSTEM].to_sums()),
            "rolling": json.dumps(metrics.get()),
            "logloss": summary.get("logloss", 0.0),
            "auc": summary.get("auc", 0.0),
            "drifts": summary.get("drifts", 0),
            "users": self.embeddings.n_users,
            "items": self.embeddings.n_items,
        }


class Sender(Protocol):
    """Where the learner sends messages, awaiting the broker's acknowledgement of each."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, messages: Sequence[tuple[str, int | None, bytes, bytes | None]]
                   ) -> None:
        """Deliver (topic, partition or None for the key's, key, value or None) messages."""


class Learner:
    """This worker's user shards and item shards: restore, learn, export and snapshot them."""

    def __init__(self, settings: Settings, client: Redis, codec: SnapshotCodec,
                 sender: Sender) -> None:
        self.settings = settings
        self.client = client
        self.codec = codec
        self.sender = sender
        self.keys = Keys(settings.redis.key_prefix)
        self.shards: dict[int, Shard] = {}
        self.item_shards: dict[int, ItemShard] = {}
        # The broadcast's latest vectors (with TTL clocks) and item shards' trending parts, for
        # shards assigned later.
        self.item_table: dict[str, tuple[np.ndarray, float]] = {}
        self.scope_table: dict[tuple[int, str], ScopeBest] = {}
        self.context = InteractionBuilder(default_location=settings.learning.default_location)
        self._weather_loaded: dict[str, float] = {}  # location -> last report's ts_ms read
        # Users whose profile had no location when read. Profiles are keyed by user, so the
        # later ones of this worker's users come through its own batches (and update the
        # builder); the set is cleared when partitions move.
        self._unplaced: set[str] = set()
        # Items without a catalogue entry when read, and when: asked again after a while (an
        # item's entry is ingested by the owner of its partition, maybe another worker).
        self._uncatalogued: dict[str, float] = {}
        # When each shard ("user" or "items", partition) was last snapshotted: one is taken per
        # batch at most, the most overdue, so the pauses spread instead of piling up.
        self._snapshot_at: dict[tuple[str, int], float] = {}
        self._last_publish = time.monotonic()
        self.topics = (settings.topics.clicks, settings.topics.purchases,
                       settings.topics.impressions)
        # Item steps of learned events not yet acknowledged by the broker: sent before anything
        # else, so a retried batch (its events already learned) loses none.
        self._outbox: list[tuple[str, int | None, bytes, bytes | None]] = []
        # Rebalance callbacks and the broadcast run beside the consume loop: one operation on
        # the shards at a time.
        self._lock = asyncio.Lock()
        self._curve_points: dict[int, int] = {}
        self._gc = _FrozenHeap()
        self._set_vectors = client.register_script(_SET_WITH_TTL)
        self._set_trending = client.register_script(_SET_TRENDING)

    async def start(self) -> None:
        await self.sender.start()

    async def stop(self) -> None:
        await self.sender.stop()

    # --- partitions ---------------------------------------------------------------------------
    async def assign(self, partitions: Sequence[int]) -> dict[tuple[str, int], int]:
        """Restore the shards of newly assigned partitions; return the offsets they cover."""
        async with self._lock:
            return await self._assign(partitions)

    async def _assign(self, partitions: Sequence[int]) -> dict[tuple[str, int], int]:
        covered: dict[tuple[str, int], int] = {}
        self._unplaced.clear()  # another worker may have read profiles of these users
        for partition in partitions:
            if partition not in self.shards:
                shard = self.shards[partition] = await self._restore(partition)
                for info in self.context.items.values():
                    shard.model.observe_item(info)
                for item, vector in self.item_table.items():
                    shard.take_vector(item, vector)
                for (source, scope), part in self.scope_table.items():
                    shard.take_scope(source, scope, part)
            if partition not in self.item_shards:
                self.item_shards[partition] = await self._restore_items(partition)
            for kind in ("user", "items"):  # a random phase: workers' snapshots do not align
                self._snapshot_at.setdefault((kind, partition), time.monotonic() - random.uniform(
                    0, self.settings.learning.snapshot_every_s))
            for topic in self.topics:
                covered[(topic, partition)] = self.shards[partition].offsets.get(topic, 0)
            covered[(self.settings.topics.item_steps, partition)] = (
                self.item_shards[partition].offset)
        return covered

    async def revoke(self, partitions: Sequence[int]) -> None:
        async with self._lock:
            await self._revoke(partitions)

    async def _revoke(self, partitions: Sequence[int]) -> None:
        await self._flush_outbox()
        for partition in partitions:
            for kind in ("user", "items"):
                if (kind, partition) in self._snapshot_at:
                    await self._snapshot(kind, partition)
                    del self._snapshot_at[(kind, partition)]
            self.shards.pop(partition, None)
            self.item_shards.pop(partition, None)

    async def _load(self, key: str, what: str) -> Any | None:
        """A verified snapshot, or None (none yet, or refused: never unpickled)."""
        blob = await self.client.get(key)
        if blob is None:
            return None
        try:
            return self.codec.decode(blob)
        except SnapshotRejected as exc:
            # Start the shard again from the beginning of the retained log.
            log.error("snapshot of %s refused (%s): learning it again", what, exc)
            return None

    async def _restore(self, partition: int) -> Shard:
        shard = await self._load(self.keys.snapshot(partition), f"shard {partition}")
        if shard is None:
            return Shard.new(partition, self.settings)
        log.info("shard %d restored: %d learned, offsets %s", partition, shard.learned,
                 shard.offsets)
        return shard

    async def _restore_items(self, partition: int) -> ItemShard:
        shard = await self._load(self.keys.item_snapshot(partition), f"item shard {partition}")
        if shard is None:
            return ItemShard.new(partition, min_item_count=self.settings.learning.min_item_count,
                                 ttl_s=self.settings.learning.state_ttl_s)
        log.info("item shard %d restored: %d steps applied, offset %d", partition,
                 shard.applied, shard.offset)
        return shard

    async def _snapshot(self, kind: str, partition: int) -> None:
        """Expire what the shard's TTL allows (bounded state), then store its signed snapshot.

        The caller has delivered the outbox: a snapshot must not cover events whose item steps
        were never sent. An item shard's unpublished changes go with it (``dirty``).
        """
        shard: Shard | ItemShard
        if kind == "user":
            shard = self.shards[partition]
            if users := shard.expire():
                log.info("shard %d expired %d users", partition, users)
            key = self.keys.snapshot(partition)
        else:
            shard = self.item_shards[partition]
            if items := shard.expire():
                log.info("item shard %d expired %d items", partition, len(items))
            key = self.keys.item_snapshot(partition)
        started = time.perf_counter()
        await self.client.set(key, self.codec.encode(shard))
        self._snapshot_at[(kind, partition)] = time.monotonic()
        log.debug("%s shard %d snapshotted in %.0f ms", kind, partition,
                  1000 * (time.perf_counter() - started))

    async def snapshot_all(self) -> None:
        async with self._lock:
            await self._flush_outbox()
            for kind, partition in list(self._snapshot_at):
                await self._snapshot(kind, partition)

    async def _snapshot_due(self) -> None:
        """Snapshot the most overdue shard, if one is due (at most one per batch)."""
        if not self._snapshot_at:
            return
        (kind, partition), at = min(self._snapshot_at.items(), key=lambda entry: entry[1])
        if time.monotonic() - at >= self.settings.learning.snapshot_every_s:
            await self._snapshot(kind, partition)

    # --- the broadcast ------------------------------------------------------------------------
    async def receive(self, changes: Changes) -> None:
        """Item vectors (None: removed) and trending parts from the broadcast into every user
        shard."""
        async with self._lock:
            for item, vector in changes.vectors:
                if vector is None:
                    self.item_table.pop(item, None)
                else:
                    self.item_table[item] = vector
                for shard in self.shards.values():
                    shard.take_vector(item, vector)
            for source, scope, part in changes.scopes:
                self.scope_table[(source, scope)] = part._replace(gone=[])
                for shard in self.shards.values():
                    shard.take_scope(source, scope, part)

    # --- learning -----------------------------------------------------------------------------
    async def learn(self, batch: Sequence[Decoded], caught_up: bool = False,
                    steps: Sequence[Record] = ()) -> int:
        """Apply the item steps, learn the batch's interactions not covered yet; export.

        A basket (an invoice's lines) is learned when the next one begins, so it is scored once
        before any of its lines is learned. ``caught_up`` (the consumer found less than a full
        batch waiting) closes the open baskets now: with no more events queued, waiting for the
        next one would leave the last event unlearned for as long as the shop is quiet.
        """
        async with self._lock:
            await self._flush_outbox()
            self._apply_steps(steps)
            learned = await self._learn(batch, caught_up)
            await self._publish_items()
            await self._snapshot_due()
            self._gc.tick()
            return learned

    async def idle(self) -> None:
        """Nothing was waiting: close open baskets, deliver what is due."""
        async with self._lock:
            await self._flush_outbox()
            touched: dict[int, set[str]] = {}
            self._close_baskets(touched)
            await self._deliver(touched)
            await self._publish_items()

    def _apply_steps(self, records: Sequence[Record]) -> None:
        for record in records:
            shard = self.item_shards.get(record.partition)
            if shard is None or record.offset < shard.offset or record.value is None:
                continue
            shard.apply(item_steps.decode(record.value))
            shard.offset = record.offset + 1

    async def _learn(self, batch: Sequence[Decoded], caught_up: bool) -> int:
        todo: list[tuple[Shard, Record, ClickEvent | PurchaseEvent | Impression]] = []
        advance: dict[tuple[int, str], int] = {}
        for decoded in batch:
            record = decoded.record
            if isinstance(decoded.event, UserProfile):  # this worker's users' newer locations
                self.context.feed(decoded.event)
                self._unplaced.discard(decoded.event.user_id)
                continue
            if isinstance(decoded.event, ItemUpsert):  # catalogue entries this worker ingests
                self._catalogue(self.context.feed(decoded.event))  # type: ignore[arg-type]
                continue
            shard = self.shards.get(record.partition)
            if record.topic not in self.topics or shard is None:
                continue
            if record.offset < shard.offsets.get(record.topic, 0):
                continue  # learned before the snapshot this shard was restored from
            advance[(record.partition, record.topic)] = record.offset + 1
            if isinstance(decoded.event, (ClickEvent, PurchaseEvent, Impression)):
                todo.append((shard, record, decoded.event))
        # Reads first: if Redis fails here the batch is retried with nothing learned or skipped.
        await self._load_context([event for _, _, event in todo])
        for (partition, topic), offset in advance.items():
            self.shards[partition].offsets[topic] = offset
        touched: dict[int, set[str]] = {}
        learned = self._learn_events(todo, touched)
        if caught_up:
            self._close_baskets(touched)
        await self._deliver(touched)
        return learned

    def _close_baskets(self, touched: dict[int, set[str]]) -> None:
        """Learn every shard's open basket now (nothing more is queued); their users join
        ``touched`` (partition -> users whose vectors changed)."""
        for shard in self.shards.values():
            basket = shard.evaluator.open_basket
            if basket:
                shard.evaluator.flush()
                touched.setdefault(shard.partition, set()).update(i.user_id for i in basket)

    async def _deliver(self, touched: dict[int, set[str]]) -> None:
        """Send the touched shards' item steps (acknowledged), then export their figures and
        users' vectors."""
        for partition in touched:
            self._queue_steps(self.shards[partition])
        await self._flush_outbox()
        await self._export(touched)

    def _learn_events(self, todo: list[tuple[Shard, Record,
                                             ClickEvent | PurchaseEvent | Impression]],
                      touched: dict[int, set[str]]) -> int:
        # A batch holds several topics of one partition: replay them in event time, so an
        # impression precedes the clicks on it (a stable sort keeps each topic's order). At
        # equal times the funnel's order holds whatever order the topics were fetched in: what
        # was shown, then clicked, then bought.
        todo.sort(key=lambda entry: (entry[2].ts, _FUNNEL[type(entry[2])]))
        # An open basket is learned once its shard's stream moves on, in this batch: its users'
        # vectors change now, though they were fed (and touched) in an earlier one.
        for shard, _, _ in todo:
            if shard.partition not in touched:
                touched[shard.partition] = {i.user_id for i in shard.evaluator.open_basket}
        learned = 0
        for shard, record, event in todo:
            if isinstance(event, Impression):
                shard.shown(event, self.context.context(event.user_id, event.location,
                                                        event.ts.timestamp()))
                continue
            interaction = self.context.interaction(event, origin=(record.topic, record.offset))
            learned += 1
            shard.learn(interaction)
            touched.setdefault(shard.partition, set()).add(interaction.user_id)
        return learned

    def _queue_steps(self, shard: Shard) -> None:
        """The shard's item steps as one message per item partition, with its watermark."""
        steps = shard.embeddings.take_item_steps()
        if not steps:
            return
        watermark = {topic: shard.offsets[topic] for topic in self.topics[:2]
                     if topic in shard.offsets}
        for line in shard.evaluator.open_basket:  # fed, not learned: their steps are to come
            topic, offset = line.origin  # type: ignore[misc]
            watermark[topic] = min(watermark[topic], offset)
        for target, targeted in item_steps.route(steps, self.settings.kafka.partitions).items():
            self._outbox.append((self.settings.topics.item_steps, target,
                                 str(shard.partition).encode(),
                                 item_steps.encode(shard.partition, watermark, targeted)))

    async def _flush_outbox(self) -> None:
        if self._outbox:
            await self.sender.send(self._outbox)
            self._outbox = []

    async def _publish_items(self) -> None:
        """Broadcast and store the items changed since the last time, every so often."""
        if time.monotonic() - self._last_publish < self.settings.learning.item_vector_publish_s:
            return
        self._last_publish = time.monotonic()
        messages: list[tuple[str, int | None, bytes, bytes | None]] = []
        vectors: dict[str, bytes] = {}
        trending: list[tuple[str, float, str]] = []  # (scope's key, log score, item)
        pipe = self.client.pipeline(transaction=False)
        for shard in self.item_shards.values():
            for item, change in shard.take_dirty().items():
                value = None if change is None else encode_vector(*change)
                messages.append((self.settings.topics.item_vectors, None, item.encode(), value))
                if change is not None:
                    vectors[self.keys.item_embedding(item)] = pack(change[0])
            trends = shard.trending
            changed: dict[str, list[str]] = {}  # scope -> the items that expired from it
            for (item, scope), count in shard.take_counts().items():
                expired = changed.setdefault(scope, [])
                if count is None:
                    expired.append(item)
                else:  # an expired item leaves its sets as the best 1,000 move
                    trending.append((self.keys.trending(scope), trends.log_score(count), item))
            for scope, expired in changed.items():
                part = ScopeBest(trends.landmark, trends.mass(scope), trends.best(scope), expired)
                messages.append((self.settings.topics.item_trending, None,
                                 scope_key(shard.partition, scope), encode_scope(part)))
            pipe.hset(self.keys.item_learning(shard.partition), mapping=shard.figures())
        await self.sender.send(messages)
        if vectors:
            await self._set_vectors(keys=list(vectors), client=pipe,
                                    args=[*vectors.values(), int(self.settings.learning.state_ttl_s)])
        if trending:
            await self._set_trending(client=pipe, args=[
                json.dumps(trending, separators=(",", ":")), TRENDING_KEPT])
        await pipe.execute()

    async def _load_context(self, events: Sequence[ClickEvent | PurchaseEvent | Impression]
                            ) -> None:
        """Users' locations, weather histories and catalogue facts the batch needs, from Redis."""
        unplaced = list({e.user_id for e in events if not e.location}
                        - self.context.user_locations.keys() - self._unplaced)
        if unplaced:  # the user's location from their profile (the users topic, via Redis)
            pipe = self.client.pipeline(transaction=False)
            for user_id in unplaced:
                pipe.hget(self.keys.profile(user_id), "location")
            for user_id, location in zip(unplaced, await pipe.execute(), strict=True):
                if location:
                    self.context.user_locations[user_id] = location.decode()
                else:
                    self._unplaced.add(user_id)
        locations = ({self.context.location_of(e.user_id, e.location) for e in events}
                     | {self.settings.learning.default_location}) - {None}
        if locations:  # the reports not read yet, for every location of the batch at once
            pipe = self.client.pipeline(transaction=False)
            for location in locations:
                since = self._weather_loaded.get(location, -1.0)
                pipe.zrangebyscore(self.keys.weather_history(location), f"({since}", "+inf",
                                   withscores=True)
            for location, rows in zip(locations, await pipe.execute(), strict=True):
                for member, score in rows:
                    fields = json.loads(member)
                    self.context.add_weather(location, score / 1000,
                                             Weather(fields["condition"], fields["temp_c"]))
                if rows:
                    self._weather_loaded[location] = rows[-1][1]
        now = time.monotonic()
        missing = [item for item in {e.item_id for e in events if not isinstance(e, Impression)}
                   - self.context.items.keys()
                   if now - self._uncatalogued.get(item, -UNCATALOGUED_RECHECK_S)
                   >= UNCATALOGUED_RECHECK_S]
        if missing:
            pipe = self.client.pipeline(transaction=False)
            for item_id in missing:
                pipe.hmget(self.keys.item_meta(item_id), "category", "price")
            for item_id, (category, price) in zip(missing, await pipe.execute(), strict=True):
                if category is not None or price is not None:
                    self.context.items[item_id] = info = ItemInfo(
                        item_id, category=category.decode() if category else None,
                        price=float(price) if price else None)
                    self._catalogue(info)
                else:
                    self._uncatalogued[item_id] = now

    def _catalogue(self, info: ItemInfo) -> None:
        """A catalogue entry for every shard: the models score candidates by bare id."""
        self._uncatalogued.pop(info.item_id, None)
        for shard in self.shards.values():
            shard.model.observe_item(info)

    async def _export(self, touched: dict[int, set[str]]) -> None:
        """Figures per shard and the touched users' embeddings, one pipeline per batch."""
        pipe = self.client.pipeline(transaction=False)
        vectors: dict[str, bytes] = {}
        for partition, users in touched.items():
            shard = self.shards[partition]
            figures = shard.figures()
            if len(shard.evaluator.curve) != self._curve_points.get(partition):
                # The curve grows by a point per 1,000 interactions: send it only then.
                figures["curve"] = shard.curve()
                self._curve_points[partition] = len(shard.evaluator.curve)
            pipe.hset(self.keys.learning(partition), mapping=figures)
            mf = shard.embeddings
            for user in users:
                vector = mf.user_vector(user)
                if vector is not None:
                    vectors[self.keys.user_embedding(user)] = pack(vector)
        if vectors:
            # One call sets every vector with the state TTL (MSET cannot expire).
            await self._set_vectors(keys=list(vectors), client=pipe,
                                    args=[*vectors.values(), int(self.settings.learning.state_ttl_s)])
        await pipe.execute()


class _FrozenHeap:
    """Keeps Python's cycle collector off the shards' long-lived objects.

    The shards are millions of long-lived objects (counters, profiles, hashed weights) without
    reference cycles. Under load Python's full collection walked them all every 2 to 5 s
    (~100 ms each, a latency spike each time, freeing nothing). Every ``freeze_every_s`` what
    exists is frozen (left to reference counting; the collector walks only what is newer), and
    every ``collect_every_s`` one full collection reclaims any cycles frozen meanwhile.
    """

    def __init__(self, freeze_every_s: float = 5.0, collect_every_s: float = 600.0) -> None:
        self.freeze_every_s = freeze_every_s
        self.collect_every_s = collect_every_s
        self._frozen_at = self._collected_at = time.monotonic()

    def tick(self) -> None:
        now = time.monotonic()
        if now - self._collected_at > self.collect_every_s:
            gc.unfreeze()
            gc.collect()
            self._collected_at = now
        if now - self._frozen_at > self.freeze_every_s:
            gc.freeze()
            self._frozen_at = now

