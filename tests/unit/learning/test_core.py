"""The learner core, with no Kafka and no Redis: batches in, plans out.

Each test drives a core the way the worker's shell does (query the context, take the answers,
learn, checkpoint the plan) with the plan's messages carried by hand from one core to itself.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from stream.contracts.internal import Changes, decode_broadcast, decode_steps
from stream.contracts.records import Decoded, Record
from stream.contracts.schemas import ClickEvent, DeadLetter, Event, PurchaseEvent
from stream.learning.context import ContextAnswers
from stream.learning.core import LearnerCore
from stream.learning.plan import Plan
from stream.settings import LearningSettings, TopicSettings
from stream.transport.partitioner import partition_of

PARTITIONS = 2
TOPICS = TopicSettings()
T0 = datetime(2011, 1, 4, tzinfo=UTC)


def make_core() -> LearnerCore:
    core = LearnerCore(LearningSettings(min_item_count=1, eval_sample_every=1), TOPICS,
                       exclude_purchased=True,
                       partition_of=functools.partial(partition_of, partitions=PARTITIONS))
    for partition in range(PARTITIONS):
        core.adopt(partition, None, None)
    return core


class Stream:
    """Clicks and purchases as records of partition 0, each topic numbered from 0."""

    def __init__(self) -> None:
        self.offsets: dict[str, int] = {}
        self.minute = 0

    def record(self, event: Event | None, topic: str) -> Decoded:
        offset = self.offsets.get(topic, 0)
        self.offsets[topic] = offset + 1
        return Decoded(Record(topic, 0, offset, b"k", b"{}"), event,
                       None if event else "invalid")

    def click(self, user: str, item: str) -> Decoded:
        self.minute += 1
        return self.record(ClickEvent(event_id=f"c{self.minute}", user_id=user, item_id=item,
                                      ts=T0 + timedelta(minutes=self.minute)), TOPICS.clicks)

    def order(self, user: str, order: str, *items: str) -> list[Decoded]:
        self.minute += 1
        return [self.record(PurchaseEvent(event_id=f"{order}-{item}", user_id=user,
                                          order_id=order, item_id=item, quantity=1, price=1.0,
                                          ts=T0 + timedelta(minutes=self.minute)),
                            TOPICS.purchases) for item in items]


def learn(core: LearnerCore, batch: list[Decoded], caught_up: bool = True) -> Plan:
    """As the shell does: answer the context query (nothing known), then learn."""
    query = core.query(batch, now=0.0)
    core.take_context(query, ContextAnswers(dict.fromkeys(query.users), {},
                                            dict.fromkeys(query.items)), now=0.0)
    return core.learn(batch, caught_up)


def deliver_steps(core: LearnerCore, plan: Plan, offsets: dict[int, int]) -> int:
    """The plan's item steps to their partitions' item shards; how many messages."""
    records = []
    for topic, partition, key, value in plan.messages:
        assert topic == TOPICS.item_steps and partition is not None
        records.append(Record(topic, partition, offsets.get(partition, 0), key, value))
        offsets[partition] = offsets.get(partition, 0) + 1
    core.apply_steps(records)
    return len(records)


def publish_tea(core: LearnerCore, stream: Stream) -> Plan:
    """Two clicks on tea learned, their steps applied by the item shards; what they publish."""
    plan = learn(core, [stream.click("ann", "tea"), stream.click("bob", "tea")])
    deliver_steps(core, plan, {})
    return core.publish()


def broadcast(core: LearnerCore, published: Plan) -> None:
    """The published messages back into the core, as a worker's broadcast reader decodes them."""
    core.receive(decode_broadcast((Record(topic, 0, 0, key, value)
                                   for topic, _, key, value in published.messages),
                                  TOPICS.item_vectors))


def test_each_interaction_is_learned_once_even_when_its_batch_comes_again():
    core, stream = make_core(), Stream()
    batch = [stream.click("ann", "tea"), stream.click("bob", "jam"), *stream.order("ann", "o1", "tea", "mug")]
    learn(core, batch)
    assert core.shards[0].learned == 4
    assert learn(core, batch).messages == []  # covered: nothing learned, nothing to send
    assert core.shards[0].learned == 4
    assert core.shards[0].offsets == {TOPICS.clicks: 2, TOPICS.purchases: 2}


def test_a_dead_letter_is_covered_too_so_a_restored_shard_does_not_wait_for_it():
    core, stream = make_core(), Stream()
    learn(core, [stream.click("ann", "tea"), stream.record(None, TOPICS.clicks)])
    assert core.shards[0].offsets[TOPICS.clicks] == 2 and core.shards[0].learned == 1


def test_a_batch_of_dead_letters_alone_still_exports_how_far_its_shard_read():
    """Else `recstream stats` would count them unread until the partition's next event."""
    core, stream = make_core(), Stream()
    learn(core, [stream.click("ann", "tea")])
    plan = learn(core, [stream.record(None, TOPICS.clicks)])
    assert json.loads(plan.figures[0]["offsets"]) == {TOPICS.clicks: 2}
    assert 1 not in plan.figures  # nothing of partition 1's was read


def test_item_steps_go_to_each_items_partition_and_are_applied_once():
    core, stream = make_core(), Stream()
    items = [f"item{n}" for n in range(20)]
    plan = learn(core, [stream.click(f"user{n % 3}", item) for n, item in enumerate(items)])
    for _, partition, _, value in plan.messages:
        assert {partition_of(s.item_id, PARTITIONS) for s in decode_steps(value).steps} == {partition}
    offsets: dict[int, int] = {}
    deliver_steps(core, plan, offsets)
    assert sum(shard.applied for shard in core.item_shards.values()) == 20
    # The same messages again, as after a crash before the offsets moved: skipped.
    core.apply_steps([Record(TOPICS.item_steps, p, 0, b"0", v) for _, p, _, v in plan.messages])
    assert sum(shard.applied for shard in core.item_shards.values()) == 20


def test_a_basket_is_learned_when_the_next_begins_and_its_steps_wait_for_it():
    core, stream = make_core(), Stream()
    plan = learn(core, stream.order("ann", "o1", "tea", "mug"), caught_up=False)
    shard = core.shards[0]
    assert shard.learned == 0 and [line.item_id for line in shard.baskets.open] == ["tea", "mug"]
    assert plan.messages == [] and plan.user_vectors == {}
    # The watermark stops below the open basket: its steps are still to come.
    assert shard.watermark((TOPICS.clicks, TOPICS.purchases)) == {TOPICS.purchases: 0}
    plan = learn(core, [stream.click("bob", "jam")], caught_up=False)
    assert shard.learned == 2 and stepped(plan) == {"tea", "mug"}
    assert decode_steps(plan.messages[0][3]).watermark == {TOPICS.clicks: 0, TOPICS.purchases: 2}
    plan = core.close_baskets()
    assert shard.learned == 3 and stepped(plan) == {"jam"}


def stepped(plan: Plan) -> set[str]:
    return {step.item_id for *_, value in plan.messages for step in decode_steps(value).steps}


def test_what_the_item_shards_changed_comes_back_to_every_user_shard_by_the_broadcast():
    core, stream = make_core(), Stream()
    published = publish_tea(core, stream)
    vectors = [m for m in published.messages if m[0] == TOPICS.item_vectors]
    assert [m[2] for m in vectors] == [b"tea"] and "tea" in published.item_vectors
    assert ("global", pytest.approx(published.trending[0][1]), "tea") in published.trending
    broadcast(core, published)
    for shard in core.shards.values():
        assert shard.embeddings.item_vector("tea") is not None
    assert core.publish().messages == []  # nothing changed since


def test_the_context_query_asks_only_for_what_the_worker_lacks():
    core, stream = make_core(), Stream()
    batch = [stream.click("ann", "tea")]
    query = core.query(batch, now=0.0)
    assert (query.users, query.items) == (["ann"], ["tea"])
    learn(core, batch)
    again = core.query([stream.click("ann", "tea")], now=1.0)
    assert (again.users, again.items) == ([], [])  # no profile, no entry: not asked at once


def test_a_new_shard_takes_what_the_broadcast_brought_before_it_came():
    core, stream = make_core(), Stream()
    broadcast(core, publish_tea(core, stream))
    core.release(1)
    core.adopt(1, None, None)
    assert core.shards[1].embeddings.item_vector("tea") is not None


def test_a_malformed_item_step_message_becomes_a_dead_letter_and_the_shard_moves_on():
    core, stream = make_core(), Stream()
    plan = learn(core, [stream.click("ann", "tea"), stream.click("bob", "tea")])
    (_, target, key, value), = plan.messages
    bad = Record(TOPICS.item_steps, target, 0, b"0", b'{"src": "garbage"}')
    good = Record(TOPICS.item_steps, target, 1, key, value)
    dead = core.apply_steps([bad, good])
    (topic, _, letter_key, letter), = dead.messages
    assert topic == TOPICS.dlq and letter_key == f"{TOPICS.item_steps}:{target}:0".encode()
    assert DeadLetter.model_validate_json(letter).reason.startswith("invalid item-step message")
    shard = core.item_shards[target]
    assert (shard.rejected, shard.applied, shard.offset) == (1, 2, 2)


def test_a_broadcast_record_that_cannot_be_used_is_a_dead_letter_and_changes_nothing():
    core, stream = make_core(), Stream()
    learn(core, [stream.click("ann", "tea")])
    bad = Record(TOPICS.item_vectors, 0, 9, b"tea", b"\x01")
    wrong_size = ("jam", (np.ones(3, dtype=np.float32), 0.0))
    plan = core.receive(Changes(vectors=[wrong_size], rejected=[(bad, "invalid item vector")]))
    assert [m[0] for m in plan.messages] == [TOPICS.dlq]
    assert all(shard.embeddings.item_vector("jam") is None for shard in core.shards.values())


def test_a_basket_the_models_fail_on_becomes_dead_letters_and_the_shard_learns_on(monkeypatch):
    core, stream = make_core(), Stream()
    model = core.shards[0].model
    learn_one = model.learn_one

    def fragile(line):
        if line.item_id == "poison":
            raise OverflowError("Numerical result out of range")
        learn_one(line)

    monkeypatch.setattr(model, "learn_one", fragile)
    plan = learn(core, [stream.click("ann", "tea"), stream.click("bob", "poison"),
                        stream.click("cid", "jam")])
    letters = [DeadLetter.model_validate_json(m[3]) for m in plan.messages if m[0] == TOPICS.dlq]
    assert [(letter.source_topic, letter.offset) for letter in letters] == [(TOPICS.clicks, 1)]
    assert "OverflowError" in letters[0].reason and plan.dead_letters
    assert core.shards[0].learned == 2  # tea and jam


def test_a_workers_user_shards_read_one_item_table():
    core, stream = make_core(), Stream()
    broadcast(core, publish_tea(core, stream))
    first, second = core.shards[0].embeddings, core.shards[1].embeddings
    assert np.shares_memory(first.item_matrix(), second.item_matrix())
    core.receive(Changes([("tea", None)], []))  # the owner expired it
    assert first.item_vector("tea") is None and second.item_vector("tea") is None
