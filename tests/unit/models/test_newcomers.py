"""A user never seen gets what newcomers take in their first basket, steadied by what has sold
all along; a user the model knows keeps the shop-wide trending."""

from __future__ import annotations

import pytest

from models.base import Context, Interaction
from models.hybrid import HybridRecommender
from models.newcomers import Newcomers

NOW = Context(ts=1_000.0, location="Leeds")
DAY = 86_400.0


def shop() -> HybridRecommender:
    """Ten regulars who came for coffee and keep re-buying it (three orders each), and twenty
    newcomers whose first orders hold a map and tea, two lines at the order's time."""
    model = HybridRecommender()
    for visit in range(3):
        for n in range(10):
            model.learn_one(Interaction(f"regular{n}", "coffee", ts=10.0 * visit + n / 10,
                                        location="Leeds", kind="purchase"))
    for n in range(20):
        for item in ("map", "tea"):
            model.learn_one(Interaction(f"new{n}", item, ts=100.0 + n, location="Leeds",
                                        kind="purchase"))
    return model


def items(ranked: list[tuple[str, float]]) -> list[str]:
    return [item for item, _ in ranked]


def test_a_user_never_seen_gets_what_newcomers_bought_not_what_regulars_rebuy():
    model = shop()
    assert items(model.trending_.ranked("anyone", 1, NOW, set())) == ["coffee"]  # 90 to 60
    listed = model.recommend("stranger", 3, NOW)
    assert [s.item_id for s in listed][:2] in (["map", "tea"], ["tea", "map"])
    assert {s.source for s in listed} == {"trending"}


def test_every_line_of_a_first_order_counts_and_no_line_of_a_later_one():
    first = shop().newcomers_.first_
    counted = dict(first.top("global", 5, now_ts=200.0))
    assert counted.keys() == {"map", "tea", "coffee"}
    # 20 first orders to 10 (the coffee's are a little older: a week's half-life)
    assert counted["map"] == pytest.approx(2 * counted["coffee"], rel=1e-3)
    assert counted["tea"] == pytest.approx(counted["map"])


def test_a_known_user_keeps_the_shop_wide_trending():
    model = shop()
    own = model.ranked("regular0", 5, NOW, excluded={"coffee"})
    assert [item for item, _, _ in own][:2] in (["map", "tea"], ["tea", "map"])
    assert model.newcomers_.ranked("regular0", 5, NOW, set()) != model.trending_.ranked(
        "regular0", 5, NOW, set())


def test_before_any_first_order_is_counted_the_shop_wide_trending_answers():
    assert Newcomers().ranked("anyone", 3, NOW, set()) == []
    model = HybridRecommender(learn_trending=False)  # a worker's: trending comes by broadcast
    model.take_trending_part(0, "global", landmark=0.0, mass=3.0, best={"tea": 3.0})
    assert [s.item_id for s in model.recommend("anyone", 3, NOW)] == ["tea"]


def test_what_sold_all_along_keeps_a_place_beside_this_weeks_news():
    def newcomers(lasting_share: float) -> Newcomers:
        model = Newcomers(lasting_share=lasting_share)
        for n in range(200):  # a classic: every newcomer's first order for 200 days
            model.learn_one(Interaction(f"u{n}", "classic", ts=n * DAY), first_basket=True)
        for n in range(30):  # this week, newcomers want the novelty: 30 of them in a day
            model.learn_one(Interaction(f"v{n}", "novelty", ts=200 * DAY + n), first_basket=True)
        for n in range(3):  # and a few regulars still re-buy the classic
            model.learn_one(Interaction(f"u{n}", "classic", ts=201 * DAY), first_basket=False)
        return model

    later = Context(ts=201 * DAY)
    assert items(newcomers(0.0).ranked("stranger", 2, later, set())) == ["novelty", "classic"]
    steadied = newcomers(0.25).ranked("stranger", 2, later, set())
    fresh = newcomers(0.0).ranked("stranger", 2, later, set())
    # The classic's share of the score rises with its long-run count; news still leads.
    assert items(steadied) == ["novelty", "classic"]
    assert steadied[1][1] / steadied[0][1] > fresh[1][1] / fresh[0][1]


def test_excluded_items_are_never_proposed():
    assert "map" not in items(shop().newcomers_.ranked("stranger", 5, NOW, {"map"}))


def test_where_the_shops_list_holds_more_of_newcomers_items_the_shops_list_answers_them():
    newcomers = Newcomers()
    for n in range(10):  # each newcomer takes what the shop's list foresaw, never a newcomer's
        newcomers.learn_one(Interaction(f"u{n}", f"item{n}", ts=float(n)), first_basket=True,
                            shop=[(f"item{n}", 1.0)])
    assert newcomers.ranked("stranger", 3, NOW, set()) == []  # the caller's trending answers
    for n in range(30):  # then newcomers keep taking tea, which the shop's list misses
        newcomers.learn_one(Interaction(f"v{n}", "tea", ts=10.0 + n), first_basket=True,
                            shop=[("coffee", 1.0)])
    assert items(newcomers.ranked("stranger", 1, NOW, set())) == ["tea"]
