"""A shard learns its topics in event time, however far one of them was read ahead.

First the merge alone (stream/learning/merge.py), then a learner core handed purchases long
before the clicks that preceded them, as a consumer behind a backlog hands them over.
"""

from __future__ import annotations

import functools
import pickle
from datetime import UTC, datetime, timedelta

from stream.contracts.internal import decode_steps
from stream.contracts.records import Decoded, Record
from stream.contracts.schemas import ClickEvent, Event, PurchaseEvent
from stream.learning import user_shard
from stream.learning.context import ContextAnswers
from stream.learning.core import LearnerCore
from stream.learning.merge import EventTimeMerge
from stream.learning.plan import Plan
from stream.settings import LearningSettings, TopicSettings
from stream.transport.partitioner import partition_of

TOPICS = TopicSettings()
CLICKS, PURCHASES = TOPICS.clicks, TOPICS.purchases
T0 = datetime(2024, 4, 1, tzinfo=UTC)


# --- the merge --------------------------------------------------------------------------------

def test_an_event_waits_until_every_topic_with_unread_records_was_read_past_its_time():
    merge = EventTimeMerge()
    merge.add(PURCHASES, 0, ts=300.0, rank=2, line="buy")
    merge.add(CLICKS, 0, ts=100.0, rank=1, line="click 1")
    assert merge.due(behind={CLICKS}) == ["click 1"]  # clicks may still bring 100..300
    merge.add(CLICKS, 1, ts=200.0, rank=1, line="click 2")
    assert merge.due(behind={CLICKS}) == ["click 2"]
    merge.add(CLICKS, 2, ts=400.0, rank=1, line="click 3")
    assert merge.due(behind={CLICKS}) == ["buy", "click 3"]


def test_a_topic_read_to_its_end_holds_nothing_back():
    merge = EventTimeMerge()
    merge.add(PURCHASES, 0, ts=10.0, rank=2, line="an old purchase")  # then a quiet topic
    merge.add(CLICKS, 0, ts=900.0, rank=1, line="a click")
    assert merge.due(behind={CLICKS}) == ["an old purchase", "a click"]
    merge.add(CLICKS, 1, ts=950.0, rank=1, line="another click")
    assert merge.due(behind=set()) == ["another click"]


def test_a_topic_not_read_at_all_yet_holds_back_everything():
    merge = EventTimeMerge()
    merge.add(CLICKS, 0, ts=10.0, rank=1, line="a click")
    assert merge.due(behind={PURCHASES}) == [] and len(merge) == 1


def test_at_equal_times_what_was_shown_goes_before_what_was_clicked_before_what_was_bought():
    merge = EventTimeMerge()
    merge.add(PURCHASES, 0, ts=5.0, rank=2, line="bought")
    merge.add(CLICKS, 0, ts=5.0, rank=1, line="clicked")
    merge.add(TOPICS.impressions, 0, ts=5.0, rank=0, line="shown")
    assert merge.flush() == ["shown", "clicked", "bought"]


def test_within_a_topic_and_a_time_the_order_read_is_kept():
    merge = EventTimeMerge()
    for offset, line in enumerate(["tea", "jam", "mug"]):
        merge.add(PURCHASES, offset, ts=5.0, rank=2, line=line)
    assert merge.flush() == ["tea", "jam", "mug"]


def test_a_topics_own_order_is_kept_even_where_its_times_go_back():
    merge = EventTimeMerge()
    merge.add(CLICKS, 0, ts=100.0, rank=1, line="click at 100")
    merge.add(CLICKS, 1, ts=50.0, rank=1, line="late click at 50")
    merge.add(PURCHASES, 0, ts=70.0, rank=2, line="purchase at 70")
    assert merge.flush() == ["purchase at 70", "click at 100", "late click at 50"]


def test_past_max_held_the_earliest_events_go_on_whatever_is_unread():
    merge = EventTimeMerge(max_held=2)
    for n in range(4):
        merge.add(PURCHASES, n, ts=100.0 + n, rank=2, line=n)
    assert merge.due(behind={CLICKS}) == [0, 1] and len(merge) == 2


def test_it_waits_for_the_topics_behind_of_which_it_holds_nothing():
    merge = EventTimeMerge()
    assert merge.waits_for(behind={CLICKS}) == set()  # holding nothing, it waits for nothing
    merge.add(CLICKS, 0, ts=100.0, rank=1, line="a click")
    # Clicks has unread records too, but its held head speaks for it: reading more clicks
    # first would not let anything go.
    assert merge.waits_for(behind={CLICKS, PURCHASES}) == {PURCHASES}


def test_what_is_due_goes_at_most_so_many_at_a_time_and_the_rest_stays_due():
    merge = EventTimeMerge()
    for n in range(5):
        merge.add(PURCHASES, n, ts=float(n), rank=2, line=n)
    assert merge.due(behind=set(), most=2) == [0, 1] and merge.ready(behind=set())
    assert merge.flush(most=10) == [2, 3, 4] and not merge.ready(behind=set())


def test_lowest_is_per_topic_the_first_offset_not_learned_yet():
    merge = EventTimeMerge()
    merge.add(PURCHASES, 7, ts=300.0, rank=2, line="a")
    merge.add(PURCHASES, 8, ts=310.0, rank=2, line="b")
    merge.add(CLICKS, 3, ts=100.0, rank=1, line="c")
    assert merge.lowest() == {PURCHASES: 7, CLICKS: 3}
    merge.due(behind={CLICKS})
    assert merge.lowest() == {PURCHASES: 7}


def test_what_is_held_is_part_of_a_snapshot_and_keeps_its_order():
    merge = EventTimeMerge()
    merge.add(PURCHASES, 0, ts=5.0, rank=2, line="first")
    restored = pickle.loads(pickle.dumps(merge))
    restored.add(PURCHASES, 1, ts=5.0, rank=2, line="second")
    assert restored.flush() == ["first", "second"] and restored.latest == {PURCHASES: 5.0}


# --- a learner core behind a backlog ----------------------------------------------------------

def make_core() -> LearnerCore:
    core = LearnerCore(LearningSettings(min_item_count=1, eval_sample_every=1), TOPICS,
                       exclude_purchased=True,
                       partition_of=functools.partial(partition_of, partitions=1))
    core.adopt(0, None, None)
    return core


def record(event: Event, topic: str, offset: int) -> Decoded:
    return Decoded(Record(topic, 0, offset, b"k", b"{}"), event, None)


def click(offset: int, user: str, item: str, minute: int) -> Decoded:
    return record(ClickEvent(event_id=f"c{offset}", user_id=user, item_id=item,
                             ts=T0 + timedelta(minutes=minute)), CLICKS, offset)


def purchase(offset: int, user: str, item: str, minute: int) -> Decoded:
    return record(PurchaseEvent(event_id=f"p{offset}", user_id=user, order_id=f"o{offset}",
                                item_id=item, quantity=1, price=1.0,
                                ts=T0 + timedelta(minutes=minute)), PURCHASES, offset)


def learn(core: LearnerCore, batch: list[Decoded], ends: dict[str, int] | None,
          caught_up: bool = False) -> Plan:
    """As the shell does, with the ends the consumer knows (topic -> highwater)."""
    query = core.query(batch, now=0.0)
    core.take_context(query, ContextAnswers(dict.fromkeys(query.users), {},
                                            dict.fromkeys(query.items)), now=0.0)
    return core.learn(batch, caught_up,
                      None if ends is None else {(t, 0): end for t, end in ends.items()})


def test_purchases_read_ahead_are_learned_after_the_clicks_that_preceded_them():
    core = make_core()
    shard = core.shards[0]
    # The consumer hands over the purchase first: clicks has 2 records it has not read yet.
    learn(core, [purchase(0, "ann", "tea", minute=10)], ends={CLICKS: 2, PURCHASES: 1})
    assert shard.learned == 0 and len(shard.arrivals) == 1
    learn(core, [click(0, "ann", "tea", minute=5), click(1, "bob", "jam", minute=20)],
          ends={CLICKS: 2, PURCHASES: 1}, caught_up=True)
    assert shard.learned == 3
    # The click on tea was scored as a click before a purchase, not as an item already bought.
    assert shard.evaluator.skipped_repeats == 0
    assert shard.evaluator.result("s")["targets"] == 3


def test_read_in_the_order_fetched_the_same_events_would_skip_the_click_as_bought():
    core = make_core()
    learn(core, [purchase(0, "ann", "tea", minute=10)], ends=None)  # no ends: nothing held
    learn(core, [click(0, "ann", "tea", minute=5), click(1, "bob", "jam", minute=20)],
          ends=None, caught_up=True)
    assert core.shards[0].evaluator.skipped_repeats == 1


def test_held_events_hold_the_item_steps_watermark_back():
    core = make_core()
    shard = core.shards[0]
    learn(core, [purchase(0, "ann", "tea", minute=10), purchase(1, "bob", "tea", minute=11)],
          ends={CLICKS: 5, PURCHASES: 2})
    learn(core, [click(0, "cid", "jam", minute=1)], ends={CLICKS: 5, PURCHASES: 2})
    plan = learn(core, [click(1, "dan", "mug", minute=2)], ends={CLICKS: 5, PURCHASES: 2})
    # Purchases 0 and 1 are covered (read) but not learned: their steps are still to come.
    assert shard.offsets[PURCHASES] == 2
    assert shard.watermark((CLICKS, PURCHASES))[PURCHASES] == 0
    (message,) = [decode_steps(value) for topic, _, _, value in plan.messages
                  if topic == TOPICS.item_steps]
    assert message.watermark[PURCHASES] == 0


def test_the_core_names_the_partitions_whose_unread_records_it_waits_for():
    core = make_core()
    learn(core, [purchase(0, "ann", "tea", minute=10)], ends={CLICKS: 3, PURCHASES: 1})
    assert core.waiting == {(CLICKS, 0)}  # a consumer reads these first
    learn(core, [click(0, "ann", "tea", minute=5), click(1, "bob", "jam", minute=20)],
          ends={CLICKS: 3, PURCHASES: 1})
    assert core.waiting == set()  # nothing held any more


def test_the_facts_events_are_joined_with_are_read_first_then_what_the_merge_waits_for():
    core = make_core()
    facts = {(TOPICS.items, 0), (TOPICS.users, 0), (TOPICS.weather, 0)}
    assert core.read_first() == facts
    learn(core, [purchase(0, "ann", "tea", minute=10)], ends={CLICKS: 3, PURCHASES: 1})
    assert core.read_first() == facts | {(CLICKS, 0)}


def test_a_backlog_released_at_once_is_learned_over_several_batches(monkeypatch):
    monkeypatch.setattr(user_shard, "RELEASED_PER_BATCH", 2)
    core = make_core()
    shard = core.shards[0]
    learn(core, [purchase(n, f"u{n}", "tea", minute=10 + n) for n in range(5)],
          ends={CLICKS: 1, PURCHASES: 5})
    assert shard.learned == 0  # waiting for the click
    learn(core, [click(0, "ann", "jam", minute=60)], ends={CLICKS: 1, PURCHASES: 5})
    # Six events due: two a batch (a batch must not hold the worker's heartbeats for long);
    # the rest is due already, so the core waits for nothing (its consumer reads no more first).
    assert len(shard.arrivals) == 4 and core.waiting == set()
    learn(core, [], ends={CLICKS: 1, PURCHASES: 5})
    learn(core, [], ends={CLICKS: 1, PURCHASES: 5}, caught_up=True)
    learn(core, [], ends={CLICKS: 1, PURCHASES: 5}, caught_up=True)
    assert len(shard.arrivals) == 0 and shard.learned == 6


def test_once_no_topic_has_unread_records_what_is_held_is_learned():
    core = make_core()
    learn(core, [purchase(0, "ann", "tea", minute=10)], ends={CLICKS: 1, PURCHASES: 1})
    learn(core, [click(0, "bob", "jam", minute=1)], ends={CLICKS: 1, PURCHASES: 1},
          caught_up=True)
    assert core.shards[0].learned == 2 and len(core.shards[0].arrivals) == 0


def test_a_worker_with_nothing_to_read_learns_what_it_held():
    core = make_core()
    learn(core, [purchase(0, "ann", "tea", minute=10)], ends={CLICKS: 4, PURCHASES: 1})
    assert core.shards[0].learned == 0
    core.close_baskets()  # the consume loop found nothing at all: idle
    assert core.shards[0].learned == 1
