"""A new item is shown at the tenth place until it has been seen enough to be learned."""

from __future__ import annotations

from models.base import Context, Interaction, ItemInfo
from models.exploration import NewItems
from models.reranked import EXPLORE_RANK, EXPLORE_SOURCE, ContextReranked


def shop_with_history() -> ContextReranked:
    """Thirty items bought by five users each: a list of twenty fills without a new item, and
    none of the thirty is new any more."""
    model = ContextReranked(seed=1)
    for n in range(30):
        for user in ("ann", "bob", "cat", "eve", "fay"):
            model.learn_one(Interaction(user, f"old{n}", ts=float(n), kind="purchase"))
    return model


def test_a_catalogued_item_nobody_bought_is_shown_at_the_tenth_place():
    model = shop_with_history()
    model.observe_item(ItemInfo("kite", category="toys"))
    listed = model.recommend("dan", 20, Context(ts=40.0))
    assert len(listed) == 20
    assert (listed[EXPLORE_RANK - 1].item_id, listed[EXPLORE_RANK - 1].source) == (
        "kite", EXPLORE_SOURCE)
    assert sum(s.item_id == "kite" for s in listed) == 1


def test_short_lists_and_excluded_items_are_not_explored():
    model = shop_with_history()
    model.observe_item(ItemInfo("kite"))
    assert "kite" not in {s.item_id for s in model.recommend("dan", EXPLORE_RANK - 1,
                                                             Context(ts=40.0))}
    assert "kite" not in {s.item_id for s in model.recommend("dan", 20, Context(ts=40.0),
                                                             exclude={"kite"})}


def test_an_item_leaves_the_queue_after_its_showings_its_interactions_or_its_age():
    shown = NewItems(exposures=3)
    shown.seen("kite", ts=0.0)
    assert [shown.pick(1.0, set()) for _ in range(4)] == ["kite"] * 3 + [None]

    bought = NewItems(enough=2)
    bought.seen("kite", ts=0.0)
    bought.acted_on("kite")
    bought.acted_on("kite")
    assert bought.pick(1.0, set()) is None

    aged = NewItems(max_age_s=10.0)
    aged.seen("kite", ts=0.0)
    assert aged.pick(11.0, set()) is None


def test_only_a_first_sighting_is_new_and_the_least_shown_goes_first():
    new = NewItems()
    new.seen("kite", ts=0.0)
    assert new.pick(1.0, set()) == "kite"
    new.seen("yoyo", ts=2.0)
    new.seen("kite", ts=2.0)  # seen again: still shown once, not new again
    assert [new.pick(3.0, set()) for _ in range(3)] == ["yoyo", "kite", "yoyo"]


def test_the_queue_and_the_memory_of_items_are_bounded():
    new = NewItems(kept=2, remembered=3)
    for n in range(5):
        new.seen(f"item{n}", ts=float(n))
    assert [new.pick(5.0, set()) for _ in range(2)] == ["item3", "item4"]
    new.seen("item0", ts=6.0)  # forgotten long ago: new again
    assert new.pick(6.0, {"item3", "item4"}) == "item0"


def test_a_list_shorter_than_asked_still_explores_once_the_places_above_are_filled():
    model = ContextReranked(seed=1)
    for n in range(12):  # twelve known items: fewer than the hundred a worker asks for
        for user in ("ann", "bob", "cat", "eve", "fay"):
            model.learn_one(Interaction(user, f"old{n}", ts=float(n), kind="purchase"))
    model.observe_item(ItemInfo("kite"))
    listed = model.recommend("dan", 100, Context(ts=40.0))
    assert len(listed) == 13
    assert listed[EXPLORE_RANK - 1].item_id == "kite"
