"""Online learning in the worker: one model shard per partition, test-then-train, snapshotted.

Clicks and purchases are keyed by user, so partition ``p`` of both topics holds the same users;
the worker that owns ``p`` owns shard ``p``: the recommender that learns from those users (and
will answer their requests, DESIGN decision 2), its contextual River model and its prequential
metrics. A shard is snapshotted with the offsets it covers (HMAC-signed, see stream/snapshots.py)
and restored when a worker takes the partition over, which then replays from those offsets: every
interaction is learned once per shard, none twice (``learned`` counts them).

Known limit: item vectors and item-side signals are learned per shard from that shard's users;
their repartition by item (one writer per item, broadcast to every worker) is the next step.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from models.base import Context, Interaction, ItemInfo
from models.embeddings import OnlineMF, pack
from models.evaluation import PrequentialEvaluator
from models.hybrid import HybridRecommender
from models.reranked import ContextReranked
from stream.interactions import InteractionBuilder, Weather
from stream.schemas import ClickEvent, Impression, PurchaseEvent
from stream.settings import Settings
from stream.snapshots import SnapshotCodec, SnapshotRejected
from stream.state import Decoded, Keys

log = logging.getLogger(__name__)
SYSTEM = "recstream"
# Binary-safe: vectors travel as arguments, the TTL (seconds) last.
_SET_WITH_TTL = """
local ttl = ARGV[#ARGV]
for i, key in ipairs(KEYS) do redis.call('SET', key, ARGV[i], 'EX', ttl) end
return #KEYS
"""


@dataclass
class Shard:
    """Everything learned from one partition's users, and the offsets it covers."""

    partition: int
    evaluator: PrequentialEvaluator
    offsets: dict[str, int] = field(default_factory=dict)  # topic -> next offset covered
    learned: int = 0

    @classmethod
    def new(cls, partition: int, settings: Settings) -> Shard:
        model = ContextReranked(seed=partition, recommender=HybridRecommender(
            mf=OnlineMF(min_item_count=settings.min_item_count, ttl_s=settings.state_ttl_s)))
        return cls(
            partition=partition,
            evaluator=PrequentialEvaluator({SYSTEM: model}, k=20,
                                           exclude_purchased=settings.exclude_purchased,
                                           sample_every=settings.eval_sample_every,
                                           report_both=settings.eval_report_both),
        )

    @property
    def model(self) -> ContextReranked:
        return self.evaluator.systems[SYSTEM]  # type: ignore[return-value]

    @property
    def embeddings(self) -> OnlineMF:
        return self.model.recommender_.mf_  # type: ignore[return-value]

    def expire(self) -> tuple[int, int]:
        """Forget users and items unseen for the TTL (in event time); (users, items) dropped."""
        return self.embeddings.expire(self.embeddings._clock)

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


class Learner:
    """The shards of this worker's partitions: restore, learn, export and snapshot them."""

    def __init__(self, settings: Settings, client: Redis, codec: SnapshotCodec) -> None:
        self.settings = settings
        self.client = client
        self.codec = codec
        self.keys = Keys(settings.key_prefix)
        self.shards: dict[int, Shard] = {}
        self.context = InteractionBuilder(default_location=settings.default_location)
        self._weather_loaded: dict[str, float] = {}  # location -> last report's ts_ms read
        self._last_snapshot = time.monotonic()
        self.topics = (settings.topic_clicks, settings.topic_purchases,
                       settings.topic_impressions)
        # Rebalance callbacks run beside the consume loop: one operation on the shards at a time.
        self._lock = asyncio.Lock()
        self._curve_points: dict[int, int] = {}
        self._set_vectors = client.register_script(_SET_WITH_TTL)

    # --- partitions ---------------------------------------------------------------------------
    async def assign(self, partitions: Sequence[int]) -> dict[tuple[str, int], int]:
        """Restore the shards of newly assigned partitions; return the offsets they cover."""
        async with self._lock:
            return await self._assign(partitions)

    async def _assign(self, partitions: Sequence[int]) -> dict[tuple[str, int], int]:
        covered: dict[tuple[str, int], int] = {}
        for partition in partitions:
            if partition not in self.shards:
                shard = self.shards[partition] = await self._restore(partition)
                for info in self.context.items.values():
                    shard.model.observe_item(info)
            for topic in self.topics:
                covered[(topic, partition)] = self.shards[partition].offsets.get(topic, 0)
        return covered

    async def revoke(self, partitions: Sequence[int]) -> None:
        async with self._lock:
            await self._revoke(partitions)

    async def _revoke(self, partitions: Sequence[int]) -> None:
        for partition in partitions:
            shard = self.shards.pop(partition, None)
            if shard is not None:
                await self._snapshot(shard)

    async def _restore(self, partition: int) -> Shard:
        blob = await self.client.get(self.keys.snapshot(partition))
        if blob is None:
            return Shard.new(partition, self.settings)
        try:
            shard = self.codec.decode(blob)
        except SnapshotRejected as exc:
            # Never unpickle it; start the shard again from the beginning of the retained log.
            log.error("snapshot of shard %d refused (%s): learning it again", partition, exc)
            return Shard.new(partition, self.settings)
        log.info("shard %d restored: %d learned, offsets %s", partition, shard.learned,
                 shard.offsets)
        return shard

    async def _snapshot(self, shard: Shard) -> None:
        await self.client.set(self.keys.snapshot(shard.partition), self.codec.encode(shard))

    async def snapshot_all(self) -> None:
        async with self._lock:
            await self._snapshot_all()

    async def _snapshot_all(self) -> None:
        for shard in list(self.shards.values()):
            users, items = shard.expire()  # bounded state: the snapshot cadence is often enough
            if users or items:
                log.info("shard %d expired %d users, %d items", shard.partition, users, items)
            await self._snapshot(shard)
        self._last_snapshot = time.monotonic()

    # --- learning -----------------------------------------------------------------------------
    async def learn(self, batch: Sequence[Decoded], caught_up: bool = False) -> int:
        """Learn the batch's interactions not covered yet; export figures and embeddings.

        A basket (an invoice's lines) is learned when the next one begins, so it is scored once
        before any of its lines is learned. ``caught_up`` (the consumer found less than a full
        batch waiting) closes the open baskets now: with no more events queued, waiting for the
        next one would leave the last event unlearned for as long as the shop is quiet.
        """
        async with self._lock:
            return await self._learn(batch, caught_up)

    async def _learn(self, batch: Sequence[Decoded], caught_up: bool) -> int:
        todo: list[tuple[Shard, ClickEvent | PurchaseEvent | Impression]] = []
        advance: dict[tuple[int, str], int] = {}
        for decoded in batch:
            record = decoded.record
            shard = self.shards.get(record.partition)
            if record.topic not in self.topics or shard is None:
                continue
            if record.offset < shard.offsets.get(record.topic, 0):
                continue  # learned before the snapshot this shard was restored from
            advance[(record.partition, record.topic)] = record.offset + 1
            if isinstance(decoded.event, (ClickEvent, PurchaseEvent, Impression)):
                todo.append((shard, decoded.event))
        # Reads first: if Redis fails here the batch is retried with nothing learned or skipped.
        await self._load_context([event for _, event in todo])
        for (partition, topic), offset in advance.items():
            self.shards[partition].offsets[topic] = offset
        if not todo:
            return 0
        learned = await self._learn_events(todo, caught_up)
        if time.monotonic() - self._last_snapshot > self.settings.snapshot_every_s:
            await self._snapshot_all()
        return learned

    async def _learn_events(self, todo: list[tuple[Shard, ClickEvent | PurchaseEvent | Impression]],
                            caught_up: bool) -> int:
        # A batch holds several topics of one partition: replay them in event time, so an
        # impression precedes the clicks on it (a stable sort keeps each topic's order).
        todo.sort(key=lambda pair: pair[1].ts)
        touched: dict[int, tuple[set[str], set[str]]] = {}
        learned = 0
        for shard, event in todo:
            if isinstance(event, Impression):
                shard.shown(event, self.context.context(event.user_id, event.location,
                                                        event.ts.timestamp()))
                continue
            interaction = self.context.interaction(event)
            learned += 1
            shard.learn(interaction)
            users, items = touched.setdefault(shard.partition, (set(), set()))
            users.add(interaction.user_id)
            items.add(interaction.item_id)
        if caught_up:
            for partition in touched:
                self.shards[partition].evaluator.flush()
        await self._export(touched)
        return learned

    async def _load_context(self, events: Sequence[ClickEvent | PurchaseEvent | Impression]
                            ) -> None:
        """Users' locations, weather histories and catalogue facts the batch needs, from Redis."""
        unplaced = list({e.user_id for e in events if not e.location}
                        - self.context.user_locations.keys())
        if unplaced:  # the user's location from their profile (the users topic, via Redis)
            pipe = self.client.pipeline(transaction=False)
            for user_id in unplaced:
                pipe.hget(self.keys.profile(user_id), "location")
            for user_id, location in zip(unplaced, await pipe.execute(), strict=True):
                if location:
                    self.context.user_locations[user_id] = location.decode()
        locations = ({self.context.location_of(e.user_id, e.location) for e in events}
                     | {self.settings.default_location}) - {None}
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
        missing = list({e.item_id for e in events if not isinstance(e, Impression)}
                       - self.context.items.keys())
        if missing:
            pipe = self.client.pipeline(transaction=False)
            for item_id in missing:
                pipe.hmget(self.keys.item_meta(item_id), "category", "price")
            for item_id, (category, price) in zip(missing, await pipe.execute(), strict=True):
                if category is not None or price is not None:
                    info = ItemInfo(item_id, category=category.decode() if category else None,
                                    price=float(price) if price else None)
                    self.context.items[item_id] = info
                    # The models score candidates by bare id: they need the catalogue too.
                    for shard in self.shards.values():
                        shard.model.observe_item(info)

    async def _export(self, touched: dict[int, tuple[set[str], set[str]]]) -> None:
        """Figures per shard and the touched embeddings, one pipeline per batch."""
        pipe = self.client.pipeline(transaction=False)
        vectors: dict[str, bytes] = {}
        for partition, (users, items) in touched.items():
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
            for item in items:
                vector = mf.item_vector(item)
                if vector is not None:
                    vectors[self.keys.item_embedding(item, partition)] = pack(vector)
        if vectors:
            # One call sets every vector with the state TTL (MSET cannot expire).
            await self._set_vectors(keys=list(vectors), client=pipe,
                                    args=[*vectors.values(), int(self.settings.state_ttl_s)])
        await pipe.execute()
