"""The business rules every reply passes, after the models ranked and before anyone sees it.

Each rule is a plain function of the ranked list, so each is tested alone and the order they
run in is written once (:func:`apply`): duplicates go first (an item counts once, at its best
score), then what must never be shown (the request's exclusions, the user's purchases when the
setting says so, what is out of stock), then the category cap, then the cut to ``k``.

>>> from models.base import Scored
>>> ranked = [Scored("tea", 0.9, "repeat"), Scored("mug", 0.8, "covis"),
...           Scored("tea", 0.7, "mf"), Scored("jam", 0.5, "trending")]
>>> facts = Facts(purchased={"mug"}, out_of_stock=set(), categories={})
>>> [s.item_id for s in apply(ranked, 5, excluded=set(), facts=facts, rules=Rules())]
['tea', 'jam']
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from models.base import Scored


@dataclass(frozen=True)
class Rules:
    """What the operator set (``RECSTREAM_EXCLUDE_PURCHASED``, ``RECSTREAM_MAX_PER_CATEGORY``)."""

    exclude_purchased: bool = True
    max_per_category: int = 0  # 0: no cap


@dataclass
class Facts:
    """What the rules need to know of the user and the candidates, read from the store."""

    purchased: set[str] = field(default_factory=set)
    out_of_stock: set[str] = field(default_factory=set)
    categories: dict[str, str] = field(default_factory=dict)


def dedupe(ranked: Iterable[Scored]) -> list[Scored]:
    """Each item once, where it ranks best (the list is best first)."""
    seen: set[str] = set()
    kept = []
    for scored in ranked:
        if scored.item_id not in seen:
            seen.add(scored.item_id)
            kept.append(scored)
    return kept


def drop(ranked: Iterable[Scored], banned: set[str]) -> list[Scored]:
    """Everything but the banned items."""
    return [scored for scored in ranked if scored.item_id not in banned]


def cap_per_category(ranked: Iterable[Scored], categories: Mapping[str, str],
                     most: int) -> list[Scored]:
    """At most ``most`` items of each category, the best of each kept; an item without a
    known category is capped with nothing (it can't crowd a category it is not known in)."""
    if most <= 0:
        return list(ranked)
    shown: Counter[str] = Counter()
    kept = []
    for scored in ranked:
        category = categories.get(scored.item_id)
        if category is not None:
            if shown[category] >= most:
                continue
            shown[category] += 1
        kept.append(scored)
    return kept


def banned(excluded: set[str], facts: Facts, rules: Rules) -> set[str]:
    """What must never be shown to this user now: the models are asked without these."""
    never = excluded | facts.out_of_stock
    return never | facts.purchased if rules.exclude_purchased else never


def apply(ranked: Iterable[Scored], k: int, *, excluded: set[str], facts: Facts,
          rules: Rules) -> list[Scored]:
    """The reply's items: every rule, in order, then the best ``k``."""
    kept = drop(dedupe(ranked), banned(excluded, facts, rules))
    return cap_per_category(kept, facts.categories, rules.max_per_category)[:k]
