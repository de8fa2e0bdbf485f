"""The business rules, each alone, then in the order a reply passes them."""

from __future__ import annotations

from models.base import Scored
from stream.serving.rules import Facts, Rules, apply, banned, cap_per_category, dedupe, drop


def ranked(*items: str) -> list[Scored]:
    return [Scored(item, 1.0 - i / 100, "test") for i, item in enumerate(items)]


def ids(scored: list[Scored]) -> list[str]:
    return [s.item_id for s in scored]


def test_an_item_is_shown_once_where_it_ranks_best():
    assert ids(dedupe(ranked("a", "b", "a", "c", "b"))) == ["a", "b", "c"]


def test_banned_items_are_dropped_and_the_order_kept():
    assert ids(drop(ranked("a", "b", "c", "d"), {"b", "d"})) == ["a", "c"]


def test_purchases_are_banned_only_when_the_setting_says_so():
    facts = Facts(purchased={"bought"}, out_of_stock={"gone"})
    assert banned({"asked-away"}, facts, Rules(exclude_purchased=True)) == {
        "asked-away", "gone", "bought"}
    assert banned({"asked-away"}, facts, Rules(exclude_purchased=False)) == {"asked-away", "gone"}


def test_the_category_cap_keeps_the_best_of_each_category():
    categories = {"a": "tea", "b": "tea", "c": "tea", "d": "jam"}
    assert ids(cap_per_category(ranked("a", "b", "c", "d", "e"), categories, 2)) == [
        "a", "b", "d", "e"]


def test_a_cap_of_zero_caps_nothing():
    assert ids(cap_per_category(ranked("a", "b"), {"a": "tea", "b": "tea"}, 0)) == ["a", "b"]


def test_a_reply_passes_every_rule_then_is_cut_to_k():
    facts = Facts(purchased={"bought"}, out_of_stock={"gone"},
                  categories={"t1": "tea", "t2": "tea", "t3": "tea"})
    items = ranked("t1", "bought", "t1", "gone", "t2", "mine", "t3", "x", "y")
    reply = apply(items, 4, excluded={"mine"}, facts=facts,
                  rules=Rules(exclude_purchased=True, max_per_category=2))
    assert ids(reply) == ["t1", "t2", "x", "y"]
