"""The serving path's array code computes what its plain definition computes.

A request for 500 candidates was answered by a dict of running sums per source, ``heapq`` and
River scoring one example at a time; each is now a few array operations, with caches where
requests repeat work. Each test here writes the plain definition out (the code as it was) and
checks the model against it on a stream that learns, forgets and changes: the same items in the
same order, the same scores (River's probabilities to 1e-9).
"""

from __future__ import annotations

import heapq
import math
import pickle
import random
from collections.abc import Set
from operator import itemgetter

import numpy as np
import pytest
from river import preprocessing

from models.base import Context, Interaction, ItemInfo
from models.context_model import ContextModel
from models.covisitation import CoVisitation
from models.feature_columns import COLUMN_NAMES, CandidateColumns, decode
from models.features import features
from models.hybrid import HybridRecommender
from models.reranked import ContextReranked
from models.tally import best_first, tally
from models.trending import GLOBAL, Trending, _scope_keys, _share_terms

PLACES = ["Leeds", "York", None]
WEATHER = [("rain", 7.5), ("clear", 21.0), ("snow", -2.0), (None, None)]


def shop(n: int, seed: int = 0) -> list[Interaction]:
    """Sessions by 60 users over 300 items (a long tail), in three places and four weathers."""
    rng = random.Random(seed)
    events, ts = [], 1_700_000_000.0
    while len(events) < n:
        user, place = f"u{rng.randrange(60)}", rng.choice(PLACES)
        condition, temp = rng.choice(WEATHER)
        session = f"s{len(events)}"
        for _ in range(rng.randint(1, 5)):
            ts += rng.uniform(0.0, 1200.0)
            events.append(Interaction(user, f"i{min(int(rng.expovariate(0.02)), 299)}", ts=ts,
                                      kind=rng.choice(["click", "click", "purchase"]),
                                      session_id=session, location=place, condition=condition,
                                      temp_c=temp, device=rng.choice(["app", "web", None])))
    return events[:n]


def catalogue() -> list[ItemInfo]:
    """Most items with a category and a price; some with neither (scored by their id)."""
    return [ItemInfo(f"i{n}", category=None if n % 7 == 0 else f"c{n % 9}",
                     price=None if n % 5 == 0 else 0.5 + n * 1.3) for n in range(280)]


def requests(events: list[Interaction], seed: int = 1
             ) -> list[tuple[str, Context, set[str]]]:
    """Users asking at the stream's latest time, in every context, some excluding items."""
    rng = random.Random(seed)
    ts = events[-1].ts + 60.0
    asked = []
    for user in [f"u{n}" for n in range(0, 60, 7)] + ["never-seen"]:
        for place, (condition, temp) in zip(PLACES * 2, WEATHER + WEATHER[:2], strict=False):
            excluded = {f"i{rng.randrange(40)}" for _ in range(rng.randrange(6))}
            asked.append((user, Context(ts=ts, location=place, condition=condition,
                                        temp_c=temp, device="app"), excluded))
    return asked


# -- the plain definitions ----------------------------------------------------------------------


def trending_by_definition(model: Trending, n: int, context: Context,
                           excluded: Set[str]) -> list[tuple[str, float]]:
    """Each scope's ``n`` most counted items outside ``excluded`` (its kept best first), scored
    by the smoothed share, the best ``n``."""
    candidates: dict[str, float] = {}
    for scope in reversed(_scope_keys(context.location, context.condition)):
        kept = model._top.get(scope, {})
        ranked = sorted(kept.items(), key=itemgetter(1), reverse=True)
        best = [item for item, _ in ranked if item not in excluded][:n]
        counts = model._counts.get(scope, {})
        if len(best) < n and len(counts) > len(kept):
            ranked = heapq.nlargest(n + len(excluded), counts.items(), key=itemgetter(1))
            best = [item for item, _ in ranked if item not in excluded][:n]
        for item in best:
            candidates[item] = 0.0
    for counts, coefficient in _share_terms(model._counts, model._mass,
                                            model._decay.factor(context.ts), model.prior_mass,
                                            context):
        for item in candidates:
            candidates[item] += coefficient * counts.get(item, 0.0)
    return heapq.nlargest(n, candidates.items(), key=itemgetter(1))


def covisitation_by_definition(model: CoVisitation, user: str, n: int,
                               excluded: Set[str]) -> list[tuple[str, float]]:
    """Every recent item votes for its neighbours with its share, weighted by recency."""
    scores: dict[str, float] = {}
    voted: set[str] = set()
    for age, item in enumerate(reversed(model.recent_items(user))):
        row = model._neighbours.get(item)
        if item in voted or not row:
            continue
        voted.add(item)
        weight = (1.0 - age / model.history) / model._totals[item]
        for other, count in row.items():
            scores[other] = scores.get(other, 0.0) + weight * count
    best = heapq.nlargest(n + len(excluded), scores.items(), key=itemgetter(1))
    return [(item, score) for item, score in best if item not in excluded][:n]


def blend_by_definition(model: HybridRecommender, user: str, k: int, context: Context,
                        excluded: set[str]) -> list[tuple[str, float, str]]:
    """Each source's scores over its best, weighted and summed per item; an item names the
    source of its largest part (the first on a tie)."""
    n = max(k, model.candidates)
    blended: dict[str, list] = {}
    for source, weight, propose in (("repeat", model.repeat_weight, model._repeat),
                                    ("covis", model.covis_weight, model._covis),
                                    ("mf", model.mf_weight, model._mf),
                                    ("trending", model.trending_weight, model._trending)):
        scored = propose(user, n, context, excluded).pairs()
        if weight == 0.0 or not scored or scored[0][1] <= 0.0:
            continue
        for item, score in scored:
            part = weight / scored[0][1] * score
            entry = blended.setdefault(item, [0.0, -math.inf, source])
            entry[0] += part
            if part > entry[1]:
                entry[1], entry[2] = part, source
    top = heapq.nlargest(k, blended.items(), key=lambda entry: entry[1][0])
    return [(item, score, source) for item, (score, _, source) in top]


class OneAtATime:
    """River's probability for each candidate, one example at a time."""

    def __init__(self, model: ContextModel) -> None:
        self.model = model

    def score(self, user_id, items, context):
        return np.array([self.model.predict_proba(user_id, item, context) for item in items])


# -- the tests ---------------------------------------------------------------------------------


def test_tally_sums_in_order_and_best_first_ranks_as_heapq_with_its_ties():
    rng = random.Random(3)
    keys = [f"k{rng.randrange(40)}" for _ in range(400)]
    values = np.array([rng.choice([0.25, 0.5, 1.0, rng.random()]) for _ in keys])
    sums: dict[str, float] = {}
    for key, value in zip(keys, values.tolist(), strict=True):
        sums[key] = sums.get(key, 0.0) + value
    distinct, totals, _ = tally(keys, values)
    assert dict(zip(distinct, totals.tolist(), strict=True)) == sums  # bit for bit
    assert list(sums) == distinct
    excluded = {f"k{n}" for n in range(0, 40, 3)}
    for n in (0, 5, 40):
        best = heapq.nlargest(n + len(excluded), sums.items(), key=itemgetter(1))
        assert [distinct[i] for i in best_first(distinct, totals, n, excluded)] == [
            key for key, _ in best if key not in excluded][:n]


def test_candidate_columns_are_the_hashed_features_in_their_order():
    hasher = preprocessing.FeatureHasher(n_features=2**20, seed=5)
    known = {item.item_id: item for item in catalogue()}
    # By id (in the catalogue, or not: its id alone), and as a given entry.
    given: list[ItemInfo | str] = [*list(known)[:40], "unknown", known["i41"]]
    described = [known.get(item, item) if isinstance(item, str) else item for item in given]
    odd = ("{0}|{user}", Context(ts=0.0, condition="{rain}", temp_c=3.0), set())
    for use_context in (True, False):
        table = CandidateColumns(hasher, use_context)
        for user, context, _ in [*requests(shop(50))[:12], odd]:  # any id is an id
            columns = table.columns(user, given, context, known)
            assert len(columns) == len(COLUMN_NAMES)
            for n, item in enumerate(described):
                names = features(user, item, context, use_context=use_context)
                expected = [next(iter(hasher.transform_one({name: 1.0}).items()))
                            for name in names]
                codes = [decode(np.broadcast_to(column, len(given))[n]) for column in columns]
                assert [code for code in codes if code[1]] == expected


@pytest.mark.parametrize("stale_kept", [65_536, 50])  # 50: its dense weights rebuilt often
def test_the_context_models_scores_are_rivers_probabilities_and_stay_so_as_it_learns(
        stale_kept, monkeypatch):
    monkeypatch.setattr("models.context_model.STALE_KEPT", stale_kept)
    events = shop(3000)
    for use_context in (True, False):
        model = ContextModel(seed=2, use_context=use_context)
        for info in catalogue():
            model.observe_item(info)
        river = OneAtATime(model)
        for start in range(0, len(events), 1000):
            for event in events[start:start + 1000]:
                model.learn_one(event.user_id, event.item_id, event.context, True)
                model.learn_one(event.user_id, f"i{(int(event.item_id[1:]) * 7) % 300}",
                                event.context, False)
            for user, context, _ in requests(events[:start + 1000])[::5]:
                items = [f"i{n}" for n in range(300)] + [ItemInfo("new", "c1", 3.0)]
                assert model.score(user, items, context) == pytest.approx(
                    river.score(user, items, context), abs=1e-9)
        model.observe_item(ItemInfo("i3", category="moved", price=99.0))  # catalogue changes
        restored = pickle.loads(pickle.dumps(model))
        user, context, _ = requests(events)[4]
        for scored in (model, restored):
            assert scored.score(user, ["i3", "i4"], context) == pytest.approx(
                river.score(user, ["i3", "i4"], context), abs=1e-9)


def test_trending_ranks_as_its_definition_through_every_change():
    events = shop(3000)
    model = Trending(half_life_s=86_400.0, prior_mass=4.0, max_scopes=8)
    copy = Trending(half_life_s=86_400.0, prior_mass=4.0)  # fed by a writer's broadcast
    def ranks_by_definition(live: Trending) -> None:
        for user, context, excluded in requests(events)[::3]:  # one moment: none may be stale
            for n in (5, 150):  # within its kept best, and past it
                expected = trending_by_definition(live, n, context, excluded)
                assert live.ranked(user, n, context, excluded) == expected
                assert live.ranked(user, n, context, excluded) == expected  # when cached

    for start in range(0, len(events), 250):
        for event in events[start:start + 250]:
            model.learn_one(event)
        ranks_by_definition(model)
        for scope in model.scopes():
            copy.take_best(0, scope, model.landmark, model.mass(scope), model.best(scope))
        ranks_by_definition(copy)
        for scope in model.scopes():  # another writer's items all rank below: masses move
            copy.take_best(1, scope, model.landmark, 1.0 + start / 10.0, {})
        ranks_by_definition(copy)
    assert model.ranked("u", 5, Context(ts=0.0), set()) and GLOBAL in model.scopes()


def test_covisitation_and_the_hybrid_blend_rank_as_their_definitions():
    events = shop(3000)
    model = HybridRecommender(candidates=60)
    for start in range(0, len(events), 500):
        for event in events[start:start + 500]:
            model.learn_one(event)
        for user, context, excluded in requests(events)[::4]:
            for n in (3, 200):
                assert model.covisitation_.ranked(user, n, context, excluded) == \
                    covisitation_by_definition(model.covisitation_, user, n, excluded)
                assert model.ranked(user, n, context, excluded) == \
                    blend_by_definition(model, user, n, context, excluded)
        # A snapshot leaves the row arrays kept for requests out; the restored model builds
        # them again, and ranks alike.
        restored = pickle.loads(pickle.dumps(model.covisitation_))
        assert not restored._arrays and model.covisitation_._arrays
        for user, context, excluded in requests(events)[::16]:
            assert restored.ranked(user, 200, context, excluded) == \
                model.covisitation_.ranked(user, 200, context, excluded)


def test_recommendations_are_those_of_rivers_one_at_a_time_scoring():
    """The whole re-ranked list, as a request for 500 candidates asks for it."""
    events = shop(4000)
    model = ContextReranked(seed=3, recommender=HybridRecommender())
    for info in catalogue():
        model.observe_item(info)
    for event in events:
        model.learn_one(event)
    reference = OneAtATime(model.context_scorer)
    for user, context, excluded in requests(events):
        fast = model.recommend(user, 520, context, excluded)
        model.use_scorer(reference)
        slow = model.recommend(user, 520, context, excluded)
        model.use_scorer(None)
        assert [s.item_id for s in fast] == [s.item_id for s in slow]
        assert [s.score for s in fast] == pytest.approx([s.score for s in slow], abs=1e-8)
