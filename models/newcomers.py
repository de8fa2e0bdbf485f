"""What customers take in their first basket: the back-off for a user never seen.

A user the model knows nothing of gets what sells "here, now". Counting every interaction for
that list mixes in what returning customers re-buy, and newcomers buy otherwise: on Online
Retail, trending counted on first baskets alone held more of the next first basket's items than
the shop-wide trending (HR@20 of the lists alone, on first baskets: 0.0647 against 0.0618 over
the whole period, 0.0588 against 0.0579 over the first 60k interactions). So :class:`Newcomers`
counts the lines of first baskets only, by place and weather as
:class:`~models.trending.Trending` does, and narrows by the weather only while that wins its own
duel (:class:`~models.weather_gate.WeatherGate`).

Its list is steadied by what has sold all along (every interaction, a year's half-life): a
quarter of an item's score is its long-run count, scaled to the best one. A window of the
rolling curve can be a few wholesale customers' first orders of hundreds of lines each, one list
deciding a thousand targets; a list nearer the long-run bestsellers loses less to them there.

Where newcomers are few, their counts are thin and the shop's list knows them better (the
synthetic shop: 3% of its targets are in first baskets). So the lists duel, prequentially, on
every first basket's line before it is learned: each list holding the item is credited (credits
halve every ``duel_half_life`` lines), and this list answers only while it leads.

Whose basket is a first one is the caller's to say (:class:`HybridRecommender` knows its users):

>>> from models.base import Context, Interaction
>>> newcomers = Newcomers(lasting_share=0.0)
>>> for user, item, first in [("ann", "tea", True), ("ann", "mug", False), ("bob", "mug", False),
...                           ("cat", "tea", True), ("dan", "jam", True)]:
...     newcomers.learn_one(Interaction(user, item, ts=0.0), first_basket=first)
>>> [item for item, _ in newcomers.ranked("eve", 2, Context(ts=60.0), excluded=set())]
['tea', 'jam']
"""

from __future__ import annotations

from collections.abc import Sequence, Set

from models.base import Context, Interaction
from models.trending import Trending
from models.weather_gate import WeatherGate

__all__ = ["Newcomers"]


class Newcomers:
    """First baskets' trending items, blended with the long-run bestsellers; see the module.

    ``half_life_s`` a week, as the shop-wide trending of :class:`HybridRecommender` (3 and 14
    days scored 0.0632 and 0.0641 against 0.0647 on Online Retail's newcomers, lists alone).
    ``lasting_share`` 0.25: at 0.5 the lists alone lost 1.4% of their hits on newcomers over the
    whole period. The long-run counts halve in ``lasting_half_life_s``, a year: the shop's
    bestsellers through its seasons, with bounded memory (a sum too old to rank is dropped).
    ``k`` 20, the lists' length in the duel; ``duel_half_life`` 500 lines, as the weather's.
    """

    def __init__(self, half_life_s: float = 7 * 86_400.0, lasting_share: float = 0.25,
                 lasting_half_life_s: float = 365 * 86_400.0, max_scopes: int = 7_000,
                 k: int = 20, duel_half_life: float = 500.0) -> None:
        self.half_life_s = half_life_s
        self.lasting_share = lasting_share
        self.lasting_half_life_s = lasting_half_life_s
        self.max_scopes = max_scopes
        self.k = k
        self.duel_half_life = duel_half_life
        self.first_ = Trending(half_life_s=half_life_s, max_scopes=max_scopes)
        self.lasting_ = Trending(half_life_s=lasting_half_life_s, max_scopes=max_scopes)
        self.weather_gate_ = WeatherGate()
        self._keep = 0.5 ** (1.0 / duel_half_life)
        self._own = 0.0  # decayed hits of this list on first baskets' lines
        self._shop = 0.0  # and of the shop's list

    def learn_one(self, interaction: Interaction, first_basket: bool,
                  shop: Sequence[tuple[str, float]] = ()) -> None:
        """Count an interaction: every one in the long run, a first basket's line as news. A
        first basket's line, before it is counted, credits this list or ``shop`` (the shop-wide
        trending's best ``k`` in its context) if either held it."""
        if first_basket:
            item = interaction.item_id
            own = self._ranked(interaction.user_id, self.k, interaction.context, frozenset())
            self._own = self._own * self._keep + any(i == item for i, _ in own)
            self._shop = self._shop * self._keep + any(i == item for i, _ in shop)
            self.weather_gate_.check(self.first_, interaction)
            self.first_.learn_one(interaction)
        self.lasting_.learn_one(interaction)

    def ranked(self, user_id: str, n: int, context: Context,
               excluded: Set[str]) -> list[tuple[str, float]]:
        """The best ``n`` items outside ``excluded`` as (item, score), best first; empty while
        the shop's list holds more of newcomers' items, or before any first basket was counted
        (the caller then backs off to the shop-wide trending)."""
        if self._own < self._shop:
            return []
        return self._ranked(user_id, n, context, excluded)

    def _ranked(self, user_id: str, n: int, context: Context,
                excluded: Set[str]) -> list[tuple[str, float]]:
        context = self.weather_gate_.context(context)
        fresh = self.first_.ranked(user_id, n, context, excluded)
        if not fresh or self.lasting_share == 0.0:
            return fresh
        lasting = self.lasting_.ranked(user_id, n, context, excluded)
        share = self.lasting_share
        scores = {item: (1.0 - share) * score / fresh[0][1] for item, score in fresh}
        for item, score in lasting:
            scores[item] = scores.get(item, 0.0) + share * score / lasting[0][1]
        return sorted(scores.items(), key=lambda entry: entry[1], reverse=True)[:n]
