"""One row per (user, candidate, context), computed alike wherever it is computed."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from models.base import Context, Interaction
from models.ranker.examples import replay
from models.ranker.features import FIELDS, Inputs, hashed
from models.ranker.memory import RankerMemory
from models.ranker.online import OnlineFeatures
from models.ranker.serving import LiveRanker, RankerScorer
from models.reranked import ContextReranked


class Recording:
    """A stand-in for an onnxruntime session: keeps the rows it is given."""

    version = "r0"

    def predict(self, inputs: Inputs) -> np.ndarray:
        self.seen = inputs
        return np.zeros(len(inputs.ids), dtype=np.float32)


SHOP = [Interaction(user, item, ts=float(60 * t), session_id=f"{user}-{t // 4}", kind="purchase",
                    price=2.0 + len(item), location="Leeds", condition="rain")
        for t in range(40) for user, item in (("ann", ["tea", "jam", "bun"][t % 3]),
                                              ("bob", ["tea", "cup"][t % 2]))]


def test_a_training_row_is_the_row_serving_computes_at_the_same_moment():
    # Replay the shop to a point, then ask the serving side for the rows of the next basket:
    # they must equal the rows the replay wrote for that basket.
    head, nxt = SHOP[:32], SHOP[32]
    model, memory = ContextReranked(seed=3), RankerMemory()
    table = replay([*head, nxt], model, memory, candidates=5)
    served_model, served_memory = ContextReranked(seed=3), RankerMemory()
    for line in head:
        served_model.learn_one(line)
        served_memory.learn_one(line)
    session = Recording()
    live = LiveRanker()
    live.swap(session)  # type: ignore[arg-type]
    served_model.use_scorer(RankerScorer(live, OnlineFeatures(served_model, served_memory)))
    served_model.recommend(nxt.user_id, 5, nxt.context)
    served = session.seen
    last = table.request == table.request.max()
    np.testing.assert_array_equal(table.ids[last], served.ids)
    np.testing.assert_array_equal(table.dense[last], served.dense)


def test_an_impressions_rows_are_labelled_by_the_basket_that_follows_it():
    table = replay(SHOP, ContextReranked(seed=3), RankerMemory(), candidates=5)
    assert table.label.sum() > 0
    assert set(np.unique(table.request)) == set(range(table.n_requests))
    assert np.all(np.diff(table.request_ts) >= 0)  # in time order: the split cuts by time


def test_hashed_ids_are_the_same_in_every_process():
    # Python's own hash() of a str changes per process; a worker and the trainer must agree.
    code = "from models.ranker.features import Inputs, hashed; print(hashed('item', 'tea'))"
    seen = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={"PYTHONHASHSEED": seed}, check=True).stdout.strip()
            for seed in ("1", "2")}
    assert seen == {str(hashed("item", "tea"))}


def test_unknown_values_take_their_fields_reserved_slot():
    assert hashed("device", None) == hashed("device", None) != hashed("device", "app")
    assert OnlineFeatures(ContextReranked(), RankerMemory()).inputs(
        "nobody", ["tea"], Context(ts=0.0)).dense[0].tolist()[1:] == [0.0] * 6


def test_a_user_without_history_takes_the_user_fields_unknown_slot():
    # A stranger's id is a row no other example shares: the network could only memorise it.
    model, memory = ContextReranked(seed=3), RankerMemory()
    for line in SHOP[:8]:
        model.learn_one(line)
        memory.learn_one(line)
    user = FIELDS.index("user")
    known = OnlineFeatures(model, memory).inputs("ann", ["tea"], SHOP[8].context)
    stranger = OnlineFeatures(model, memory).inputs("zoe", ["tea"], SHOP[8].context)
    assert known.ids[0, user] == hashed("user", "ann")
    assert stranger.ids[0, user] == hashed("user", None)
    memory.forget_users(["ann"])  # forgotten: a stranger again
    assert OnlineFeatures(model, memory).inputs("ann", ["tea"], SHOP[8].context
                                                ).ids[0, user] == hashed("user", None)
