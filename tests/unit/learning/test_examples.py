"""The ranker's training examples a shard writes: logged rows, labelled by what followed.

A row logged with an impression must be the row the ranker's scorer computed for that item when
it ranked the list; the label join gives it back with the item's label; a replay through
`evaluate` (log_evaluated) labels the list each basket was scored on by that basket.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

import numpy as np

from models.base import Interaction
from models.ranker.features import Inputs
from models.ranker.memory import RankerMemory
from models.ranker.online import OnlineFeatures
from models.ranker.serving import LiveRanker, RankerScorer
from models.reranked import ContextReranked
from stream.contracts.examples import RankerExample
from stream.contracts.schemas import Impression
from stream.learning.core import LearnerCore
from stream.learning.examples import logged_rows
from stream.learning.user_shard import UserShard
from stream.settings import LearningSettings, TopicSettings
from stream.transport.partitioner import partition_of
from tests.unit.learning.test_core import Stream, learn

SHOP = [Interaction(user, item, ts=float(60 * t), session_id=f"{user}-{t // 4}", kind="purchase",
                    price=2.0 + len(item), location="Leeds", condition="rain")
        for t in range(40) for user, item in (("ann", ["tea", "jam", "bun"][t % 3]),
                                              ("bob", ["tea", "cup"][t % 2]))]


class Recording:
    """A stand-in for an onnxruntime session: keeps the rows it is given."""

    version = "r0"

    def predict(self, inputs: Inputs) -> np.ndarray:
        self.seen = inputs
        return np.zeros(len(inputs.ids), dtype=np.float32)


def learned_shop() -> tuple[ContextReranked, RankerMemory]:
    model, memory = ContextReranked(seed=3), RankerMemory()
    for line in SHOP:
        model.learn_one(line)
        memory.learn_one(line)
    return model, memory


def test_a_shown_items_logged_row_is_the_row_the_scorer_ranked_it_with():
    model, memory = learned_shop()
    session, live = Recording(), LiveRanker()
    live.swap(session)  # type: ignore[arg-type]
    model.use_scorer(RankerScorer(live, OnlineFeatures(model, memory)))
    context = SHOP[-1].context
    shown = model.recommend("ann", 3, context)  # re-ranked: not the generator's order
    logged = logged_rows(model, memory, "ann", shown, context)
    places = [s.listed_at for s in shown]
    np.testing.assert_array_equal(np.array(logged.ids), session.seen.ids[places])
    np.testing.assert_array_equal(np.array(logged.dense, dtype=np.float32),
                                  session.seen.dense[places])


def impression(request_id: str, user: str, items: list[str], minute: int,
               shard: UserShard) -> Impression:
    context = SHOP[-1].context
    model = shard.model
    shown = [s for s in model.recommend(user, 10, context) if s.item_id in items]
    return Impression(request_id=request_id, user_id=user, item_ids=[s.item_id for s in shown],
                      ts=datetime.fromtimestamp(60.0 * minute, tz=UTC),
                      features=logged_rows(model, shard.memory, user, shown, context))


def test_a_served_impression_comes_back_as_examples_labelled_by_what_followed():
    shard = UserShard.new(0, LearningSettings(min_item_count=1), exclude_purchased=False)
    for line in SHOP:
        shard.feed(line)
    shown = impression("r1", "bob", ["tea", "cup", "jam", "bun"], 41, shard)
    shard.shown(shown, SHOP[-1].context)
    assert shard.take_examples() == []  # nothing followed yet
    shard.feed(Interaction("bob", "cup", ts=60.0 * 42, session_id="late", kind="purchase"))
    shard.feed(Interaction("bob", "tea", ts=60.0 * 200, session_id="later", kind="purchase"))
    shard.close_basket()  # learned: past the join's window, the others are negatives
    examples = shard.take_examples()
    assert {(e.item_id, e.label) for e in examples} == {
        (item, item == "cup") for item in shown.item_ids}
    assert shown.features is not None
    rows = dict(zip(shown.item_ids, shown.features.rows(), strict=True))
    assert all((e.ids, e.dense) == tuple(rows[e.item_id]) for e in examples)
    assert {e.request_id for e in examples} == {"r1"}
    assert {e.source for e in examples} == {"served"}
    assert shard.take_examples() == []  # taken once


def evaluated_core(log_evaluated: bool) -> LearnerCore:
    core = LearnerCore(LearningSettings(min_item_count=1, eval_sample_every=1,
                                        log_evaluated=log_evaluated), TopicSettings(),
                       exclude_purchased=False,
                       partition_of=functools.partial(partition_of, partitions=1))
    core.adopt(0, None, None)
    return core


def examples_written(core: LearnerCore, batches: list[list]) -> list[RankerExample]:
    written = []
    for batch in batches:
        plan = learn(core, batch)
        written += [RankerExample.model_validate_json(value)
                    for topic, _, _, value in plan.messages if topic == core.topics.examples]
    return written


def shop_batches(stream: Stream) -> list[list]:
    return [stream.order("ann", f"o{n}", "tea", "jam") + stream.order("bob", f"p{n}", "tea")
            for n in range(6)]


def test_with_log_evaluated_each_scored_list_is_labelled_by_its_basket():
    examples = examples_written(evaluated_core(log_evaluated=True), shop_batches(Stream()))
    assert examples and {e.source for e in examples} == {"evaluated"}
    by_request: dict[str, list[RankerExample]] = {}
    for e in examples:
        by_request.setdefault(e.request_id, []).append(e)
    for rows in by_request.values():
        basket = {"ann": {"tea", "jam"}, "bob": {"tea"}}[rows[0].user_id]
        assert all(e.label == (e.item_id in basket) for e in rows)
    assert any(e.label for e in examples)


def test_the_same_replay_writes_the_same_request_ids():
    first = examples_written(evaluated_core(True), shop_batches(Stream()))
    again = examples_written(evaluated_core(True), shop_batches(Stream()))
    assert [e.request_id for e in first] == [e.request_id for e in again]


def test_without_log_evaluated_a_replay_writes_no_examples():
    assert examples_written(evaluated_core(log_evaluated=False), shop_batches(Stream())) == []
