"""The basket policy: which lines are learned together, and a snapshot taken mid-basket."""

from __future__ import annotations

import pickle

from models.base import Interaction
from models.baskets import Baskets
from models.evaluation import PrequentialEvaluator


def line(user: str, item: str, ts: float, session: str | None = None) -> Interaction:
    return Interaction(user, item, ts=ts, session_id=session, kind="purchase",
                       origin=("purchases", int(ts)))


def items(basket: tuple[Interaction, ...] | None) -> list[str] | None:
    return None if basket is None else [interaction.item_id for interaction in basket]


def test_a_basket_is_the_run_of_lines_sharing_user_session_and_time():
    stream = [line("ann", "a", 1.0, "o1"), line("ann", "b", 1.0, "o1"),
              line("ann", "c", 1.0, "o2"),   # another invoice at the same second
              line("ann", "d", 2.0, "o2"),   # the same invoice a second later
              line("bob", "e", 2.0, "o2"),   # another user
              line("bob", "f", 3.0), line("bob", "g", 3.0)]  # no session: one basket
    baskets = Baskets()
    closed = [items(baskets.feed(interaction)) for interaction in stream]
    assert closed == [None, None, ["a", "b"], ["c"], ["d"], ["e"], None]
    assert items(baskets.open) == ["f", "g"]
    assert items(baskets.flush()) == ["f", "g"]
    assert baskets.open == () and baskets.flush() is None


def test_a_snapshot_taken_mid_basket_resumes_it():
    baskets = Baskets()
    baskets.feed(line("ann", "a", 1.0, "o1"))
    restored = pickle.loads(pickle.dumps(baskets))
    assert restored.open == baskets.open
    assert items(restored.feed(line("ann", "b", 1.0, "o1"))) is None
    assert items(restored.feed(line("bob", "c", 2.0))) == ["a", "b"]
    assert baskets.open == (line("ann", "a", 1.0, "o1"),)  # the original is untouched


def test_the_evaluator_keeps_its_open_basket_in_its_snapshot():
    evaluator = PrequentialEvaluator({})
    for interaction in [line("ann", "a", 1.0, "o1"), line("ann", "b", 1.0, "o1")]:
        evaluator.feed(interaction)
    restored = pickle.loads(pickle.dumps(evaluator))
    assert items(restored.open_basket) == ["a", "b"] and restored.baskets == 0
    restored.feed(line("bob", "c", 2.0))
    assert (restored.baskets, restored.events, items(restored.open_basket)) == (1, 2, ["c"])
