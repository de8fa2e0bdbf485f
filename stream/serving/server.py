"""The request path's async shell: a batch of request records in, replies and impressions out.

The worker's request lane (stream/transport/request_lane.py) hands it requests as soon as they
are fetched, beside the learning loop, so a reply reflects every event learned before it without
waiting for the events fetched since. Whatever a request is, it is answered:

* malformed: a dead letter, and an ``invalid_request`` error reply when it names a valid
  ``reply_to`` (an asker whose request id is readable hears at once, not at its timeout);
* read after its deadline: a ``deadline_exceeded`` error reply at once (shedding a backlog is
  what lets the next requests make theirs);
* on a partition this worker no longer holds: ``unavailable``;
* on the wrong partition (a producer whose partitioner is not Kafka's default murmur2, such as
  librdkafka's default): forwarded to its user's partition, whose owner holds the user's state;
* a failure of the models on it: an ``internal`` error reply and a dead letter; the worker
  carries on with the next.

Every reply with items is logged to the impressions topic, which the learners join with the
clicks and purchases that follow (the context model's labels), with the ranker's feature rows of
the items it showed (the ranker's training examples, stream/learning/examples.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from models.ranker.serving import LiveRanker
from stream.contracts.codec import InvalidMessage, decode
from stream.contracts.records import Message, Record, dead_letter
from stream.contracts.schemas import DeadLetter, Impression
from stream.contracts.serving import (
    ErrorCode,
    RecommendationReply,
    RecommendationRequest,
    addressing,
    failed,
)
from stream.learning.examples import logged_rows
from stream.learning.interactions import InteractionBuilder, Weather
from stream.learning.user_shard import UserShard
from stream.serving.answer import Ranked, UserFacts, finish, rank
from stream.serving.rules import Facts, Rules

log = logging.getLogger(__name__)


class ServingStore(Protocol):
    async def users(self, user_ids: Sequence[str], locations: Sequence[str]
                    ) -> tuple[dict[str, UserFacts], dict[str, Weather]]: ...

    async def catalogue(self, item_ids: Sequence[str]) -> Facts: ...

    async def count(self, requests: int, errors: int, letters: Sequence[DeadLetter]
                    ) -> None: ...


class Sender(Protocol):
    async def send(self, messages: Sequence[Message]) -> None: ...

    async def missing(self, topics: Collection[str]) -> set[str]: ...

    async def dead_letters(self, letters: Sequence[DeadLetter]) -> None: ...


@dataclass
class Topics:
    requests: str
    impressions: str
    log_impressions: bool = True
    log_features: bool = True  # impressions carry the ranker's rows of what they showed


class Server:
    """Answers batches of request records from the user shards of this worker."""

    def __init__(self, shards: Callable[[int], UserShard | None], builder: InteractionBuilder,
                 store: ServingStore, sender: Sender, rules: Rules, topics: Topics,
                 default_deadline_ms: int, max_message_bytes: int,
                 partition_of: Callable[[str], int], candidates: int = 100,
                 ranker: LiveRanker | None = None) -> None:
        self.shards = shards
        self.ranker = ranker
        self.candidates = candidates
        self.partition_of = partition_of
        self.builder = builder
        self.store = store
        self.sender = sender
        self.rules = rules
        self.topics = topics
        self.default_deadline_ms = default_deadline_ms
        self.max_message_bytes = max_message_bytes
        self.answered = 0

    async def answer(self, records: Sequence[Record]) -> list[RecommendationReply]:
        """Answer every record; return the replies sent (in the order of the records that had
        somewhere to send one)."""
        started = time.time()
        letters: list[DeadLetter] = []
        replies: list[tuple[str, RecommendationReply, str, Record]] = []  # topic, reply, key
        live: list[tuple[Record, RecommendationRequest]] = []
        forwards: list[Message] = []
        for record in records:
            try:
                request = decode(RecommendationRequest, record.value,
                                 max_bytes=self.max_message_bytes)
            except InvalidMessage as exc:
                letters.append(dead_letter(record, exc.reason))
                request_id, reply_to = addressing(record.value)
                if reply_to is not None:
                    replies.append((reply_to, failed(request_id or "", ErrorCode.INVALID_REQUEST,
                                                     exc.reason), request_id or record.source,
                                    record))
                continue
            late_ms = started * 1000 - self._deadline_ms(request, record)
            if late_ms > 0:
                replies.append((request.reply_to, failed(
                    request.request_id, ErrorCode.DEADLINE_EXCEEDED,
                    f"read {late_ms:.0f} ms after its deadline"), request.request_id, record))
                continue
            owner = self.partition_of(request.user_id)
            if owner != record.partition:
                forwards.append((self.topics.requests, owner, request.user_id.encode(),
                                 record.value))
                continue
            live.append((record, request))
        replies, live = await self._sendable(replies, live, letters)
        impressions: list[Message] = []
        if live:
            answered = await self._answer_live(live, started, letters)
            for (record, _), (request, reply, impression) in zip(live, answered, strict=True):
                replies.append((request.reply_to, reply, request.request_id, record))
                if impression is not None:
                    impressions.append(impression)
        messages: list[Message] = forwards + [(topic, None, key.encode(), reply.to_json())
                                              for topic, reply, key, _ in replies] + impressions
        await self.sender.send(messages)
        if letters:
            await self.sender.dead_letters(letters)
        errors = sum(1 for _, reply, _, _ in replies if reply.error is not None)
        await self.store.count(len(records), errors, letters)
        self.answered += len(records)
        return [reply for _, reply, _, _ in replies]

    async def _sendable(self, replies: list[tuple[str, RecommendationReply, str, Record]],
                        live: list[tuple[Record, RecommendationRequest]],
                        letters: list[DeadLetter]
                        ) -> tuple[list[tuple[str, RecommendationReply, str, Record]],
                                   list[tuple[Record, RecommendationRequest]]]:
        """The replies and live requests whose reply topic exists. A topic the broker does not
        have would hold every request behind this one (a send waits for the topic): such a
        request is a dead letter (a malformed one is one already), and it is not answered."""
        missing = await self.sender.missing({topic for topic, *_ in replies}
                                            | {request.reply_to for _, request in live})
        if not missing:
            return replies, live
        unsendable = [(record, topic) for topic, reply, _, record in replies
                      if topic in missing and reply.error is not None
                      and reply.error.code != ErrorCode.INVALID_REQUEST]
        unsendable += [(record, request.reply_to) for record, request in live
                       if request.reply_to in missing]
        letters += [dead_letter(record, f"reply_to: Kafka has no topic {topic!r}, so no reply "
                                        "can be sent") for record, topic in unsendable]
        return ([entry for entry in replies if entry[0] not in missing],
                [(record, request) for record, request in live
                 if request.reply_to not in missing])

    async def _answer_live(self, live: list[tuple[Record, RecommendationRequest]],
                           started: float, letters: list[DeadLetter]
                           ) -> list[tuple[RecommendationRequest, RecommendationReply,
                                           Message | None]]:
        users = sorted({request.user_id for _, request in live})
        locations = sorted({request.context.location for _, request in live
                            if request.context.location})
        facts, weather = await self.store.users(users, locations)
        read = time.time()
        ranked: list[Ranked] = []
        # Nothing awaits between here and the last request ranked, so no swap comes between:
        # every request of the batch ranks on this version, and its reply says so.
        ranker = self.ranker.version if self.ranker is not None else None
        for record, request in live:
            shard = self.shards(record.partition)  # bound to the live ranker when adopted
            try:
                ranked.append(rank(request, shard,
                                   facts[request.user_id], weather, self.builder, self.rules,
                                   started, self.candidates))
            except Exception as exc:  # the models failed on this request: it alone fails
                log.exception("request %s could not be ranked", request.request_id)
                letters.append(dead_letter(record, f"ranking failed: {exc!r}"))
                ranked.append(Ranked(request, error=failed(
                    request.request_id, ErrorCode.INTERNAL, repr(exc)).error))
        ranked_at = time.time()
        catalogue = await self.store.catalogue([s.item_id for r in ranked for s in r.candidates])
        done = time.time()
        answered = []
        for (record, request), entry in zip(live, ranked, strict=True):
            try:
                reply = finish(entry, Facts(facts[request.user_id].purchased,
                                            catalogue.out_of_stock, catalogue.categories),
                               self.rules)
            except Exception as exc:  # e.g. a score that is not a number
                log.exception("request %s could not be finished", request.request_id)
                letters.append(dead_letter(record, f"reply failed: {exc!r}"))
                reply = failed(request.request_id, ErrorCode.INTERNAL, repr(exc))
            if ranker is not None and reply.error is None:
                reply.model_versions["ranker"] = ranker
            reply.timings_ms.update({
                "queued": round(max(started * 1000 - (record.timestamp_ms or started * 1000),
                                    0.0), 3),
                "read": round((read - started + done - ranked_at) * 1000, 3),
                "rank": round((ranked_at - read) * 1000, 3),
                "total": round((time.time() - started) * 1000, 3)})
            answered.append((request, reply, self._impression(
                reply, entry, self.shards(record.partition))))
        return answered

    def _impression(self, reply: RecommendationReply, ranked: Ranked, shard: UserShard | None
                    ) -> Message | None:
        """What was shown, at the latest event time its shard had read (the label join's
        clock, see :mod:`stream.serving.answer`), with the ranker's rows of the shown items
        when features are logged, as the message to send (encoded once). Rows that would push
        the impression past the message limit are left out: the impression itself (the
        context model's labels) matters more than its training rows."""
        if (not (reply.items and self.topics.log_impressions) or ranked.context is None
                or ranked.shown_at is None):  # an error has neither
            return None
        impression = Impression(
            request_id=reply.request_id, user_id=ranked.request.user_id,
            item_ids=[item.item_id for item in reply.items], location=ranked.context.location,
            model_version=ranked.model_version,
            ts=datetime.fromtimestamp(ranked.shown_at, tz=UTC))
        encoded = self._with_rows(impression, ranked, shard) or impression.to_json()
        return (self.topics.impressions, None, impression.user_id.encode(), encoded)

    def _with_rows(self, impression: Impression, ranked: Ranked, shard: UserShard | None
                   ) -> bytes | None:
        """The impression with its feature rows, encoded; None when rows are not logged or
        would not fit."""
        if not self.topics.log_features or shard is None or ranked.context is None:
            return None
        by_id = {s.item_id: s for s in ranked.candidates}
        shown = [by_id[item_id] for item_id in impression.item_ids if item_id in by_id]
        if len(shown) != len(impression.item_ids):
            return None
        encoded = impression.model_copy(update={"features": logged_rows(
            shard.model, shard.memory, ranked.request.user_id, shown, ranked.context)}).to_json()
        return encoded if len(encoded) <= self.max_message_bytes else None

    def _deadline_ms(self, request: RecommendationRequest, record: Record) -> float:
        if request.deadline_ms is not None:
            return request.deadline_ms
        sent = record.timestamp_ms if record.timestamp_ms is not None else time.time() * 1000
        return sent + self.default_deadline_ms


class EchoServer:
    """Answers every request at once with no items and no reads: a worker with
    ``RECSTREAM_WORKER_NOOP`` runs it, so ``recstream bench serve`` measures the round trip's
    floor (Kafka, the consume loop, the client) beside the real path."""

    def __init__(self, sender: Sender, max_message_bytes: int) -> None:
        self.sender = sender
        self.max_message_bytes = max_message_bytes

    async def answer(self, records: Sequence[Record]) -> None:
        messages: list[Message] = []
        for record in records:
            try:
                request = decode(RecommendationRequest, record.value,
                                 max_bytes=self.max_message_bytes)
            except InvalidMessage:
                continue
            messages.append((request.reply_to, None, request.request_id.encode(),
                             RecommendationReply(request_id=request.request_id).to_json()))
        await self.sender.send(messages)
