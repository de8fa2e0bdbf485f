"""Ranking metrics, the contextual model with its features and labels, the MF baseline, and the
prequential evaluator."""

from __future__ import annotations

import math
import pickle
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import models
from models.base import Context, Interaction, ItemInfo, Recommender, Scored
from models.baselines import BiasedMFBaseline
from models.baskets import Baskets
from models.context_model import ContextModel
from models.embeddings import OnlineMF
from models.evaluation import PrequentialEvaluator
from models.features import features
from models.hybrid import HybridRecommender
from models.labels import ImpressionJoiner, Labelled, NegativeSampler
from models.metrics import RankingMetrics, hit, ndcg, reciprocal_rank
from models.reranked import ContextReranked

RANKED = [f"i{n}" for n in range(1, 21)]


# --- metrics ---------------------------------------------------------------------------------

def test_a_hit_at_rank_3_of_20_has_rr_one_third_and_ndcg_one_half():
    assert hit(RANKED, "i3", k=20) == 1.0
    assert reciprocal_rank(RANKED, "i3", k=20) == pytest.approx(1 / 3)
    assert ndcg(RANKED, "i3", k=20) == pytest.approx(1 / math.log2(4)) == pytest.approx(0.5)


def test_a_target_below_k_or_absent_scores_zero():
    for metric in (hit, reciprocal_rank, ndcg):
        assert metric(RANKED, "i3", k=2) == 0.0
        assert metric(RANKED, "absent", k=20) == 0.0


def test_metrics_average_over_targets():
    m = RankingMetrics(k=20)
    m.update(RANKED, "i1")   # rank 1
    m.update(RANKED, "i3")   # rank 3
    m.update(RANKED, "x")    # miss
    m.update(RANKED, "i20")  # rank 20
    assert m.get() == pytest.approx({
        "hr@20": 3 / 4,
        "mrr@20": (1 + 1 / 3 + 1 / 20) / 4,
        "ndcg@20": (1 + 0.5 + 1 / math.log2(21)) / 4,
        "n": 4,
    })


def test_no_update_reads_as_zero():
    assert RankingMetrics(k=5, window=3).get() == {
        "hr@5": 0.0, "mrr@5": 0.0, "ndcg@5": 0.0, "n": 0,
        "rolling_hr@5": 0.0, "rolling_mrr@5": 0.0, "rolling_ndcg@5": 0.0, "rolling_n": 0}


def test_the_rolling_window_forgets_old_targets_and_the_cumulative_ones_do_not():
    m = RankingMetrics(k=20, window=2)
    for target in ["i1", "i1", "x", "i2"]:
        m.update(RANKED, target)
    got = m.get()
    assert got["rolling_hr@20"] == 0.5 and got["rolling_mrr@20"] == pytest.approx(0.25)
    assert got["rolling_ndcg@20"] == pytest.approx(1 / math.log2(3) / 2)
    assert got["rolling_n"] == 2
    assert got["hr@20"] == 0.75 and got["n"] == 4


def test_merging_partitions_equals_scoring_them_together():
    targets = ["i1", "x", "i5", "i2", "y", "i20"]
    whole, left, right = RankingMetrics(k=10), RankingMetrics(k=10), RankingMetrics(k=10)
    for n, target in enumerate(targets):
        whole.update(RANKED, target)
        (left if n % 2 else right).update(RANKED, target)
    assert left.merge(right).get() == pytest.approx(whole.get())


def test_merging_metrics_at_different_k_is_refused():
    with pytest.raises(ValueError):
        RankingMetrics(k=10).merge(RankingMetrics(k=20))


def test_sums_round_trip_through_a_plain_dict_even_as_redis_bytes():
    m = RankingMetrics(k=20)
    for target in ["i1", "i3", "x"]:
        m.update(RANKED, target)
    sums = m.to_sums()
    assert sums == {"k": 20, "n": 3, "hits": 2, "rr": pytest.approx(4 / 3),
                    "ndcg": pytest.approx(1.5)}
    assert RankingMetrics.from_sums(sums).get() == m.get()
    as_redis = {key: str(value).encode() for key, value in sums.items()}
    assert RankingMetrics.from_sums(as_redis).get() == pytest.approx(m.get())


# --- features --------------------------------------------------------------------------------

UMBRELLA = ItemInfo("umbrella", category="rainwear", price=12.0)
SUNGLASSES = ItemInfo("sunglasses", category="summer", price=30.0)
RAIN = Context(ts=1_700_000_000.0, location="London", condition="rain", temp_c=8.0, device="app")
SUN = Context(ts=1_700_000_000.0, location="London", condition="clear", temp_c=24.0,
              device="app")
CONTEXT_FEATURES = ("location=", "condition=", "temp=", "item*condition=", "category*condition=",
                    "category*temp=")


def test_features_are_one_hot_and_deterministic():
    x = features("u1", UMBRELLA, RAIN)
    assert x == features("u1", UMBRELLA, RAIN)
    assert set(x.values()) == {1.0}
    assert {"user=u1", "item=umbrella", "category=rainwear", "price=8-16", "location=London",
            "condition=rain", "temp=0-10", "hour=22", "device=app",
            "category*condition=rainwear|rain", "category*temp=rainwear|0-10",
            "item*condition=umbrella|rain", "user*category=u1|rainwear"} == set(x)


def test_a_change_of_weather_changes_the_features():
    rain, sun = features("u1", UMBRELLA, RAIN), features("u1", UMBRELLA, SUN)
    assert rain != sun
    assert set(rain) ^ set(sun) == {
        "condition=rain", "condition=clear", "temp=0-10", "temp=ge20",
        "item*condition=umbrella|rain", "item*condition=umbrella|clear",
        "category*condition=rainwear|rain", "category*condition=rainwear|clear",
        "category*temp=rainwear|0-10", "category*temp=rainwear|ge20"}


def test_use_context_false_drops_exactly_the_context_features():
    with_context = features("u1", UMBRELLA, RAIN)
    without = features("u1", UMBRELLA, RAIN, use_context=False)
    assert without == features("u1", UMBRELLA, SUN, use_context=False)
    assert set(with_context) - set(without) == {
        name for name in with_context if name.startswith(CONTEXT_FEATURES)}
    assert not any(name.startswith(CONTEXT_FEATURES) for name in without)


def test_missing_facts_give_no_feature():
    x = features("u1", "umbrella", Context(ts=0.0))
    assert x == {"user=u1": 1.0, "item=umbrella": 1.0, "hour=0": 1.0}


# --- the contextual model --------------------------------------------------------------------

def weather_stream(n: int, seed: int = 0, flip_at: int | None = None):
    """Rain sells umbrellas and sun sells sunglasses (90% vs 5% click rates); from ``flip_at``
    on, the other way round."""
    rng = random.Random(seed)
    for t in range(n):
        context = RAIN if rng.random() < 0.5 else SUN
        context = Context(ts=float(t), location=f"city{rng.randrange(3)}",
                          condition=context.condition, temp_c=context.temp_c, device="app")
        item = rng.choice([UMBRELLA, SUNGLASSES])
        matched = (item is UMBRELLA) == (context.condition == "rain")
        if flip_at is not None and t >= flip_at:
            matched = not matched
        yield f"u{rng.randrange(20)}", item, context, rng.random() < (0.9 if matched else 0.05)


def trained(model: ContextModel, n: int = 3000, **stream) -> ContextModel:
    for example in weather_stream(n, **stream):
        model.learn_one(*example[:4])
    return model


def test_the_context_model_learns_that_rain_sells_umbrellas():
    model = trained(ContextModel(seed=1))
    assert model.auc.get() > 0.8
    assert model.score("u0", [UMBRELLA, SUNGLASSES], RAIN).argmax() == 0
    assert model.score("u0", [UMBRELLA, SUNGLASSES], SUN).argmax() == 1


def test_without_context_the_same_stream_scores_lower():
    with_context = trained(ContextModel(seed=1)).auc.get()
    without = trained(ContextModel(seed=1, use_context=False)).auc.get()
    assert with_context - without > 0.2


def test_bare_item_ids_are_resolved_through_the_catalogue():
    model = trained(ContextModel(seed=1))
    model.observe_item(UMBRELLA)
    assert model.predict_proba("u0", "umbrella", RAIN) == model.predict_proba("u0", UMBRELLA, RAIN)
    assert model.score("u0", ["umbrella"], RAIN)[0] == pytest.approx(
        model.predict_proba("u0", UMBRELLA, RAIN))


def test_the_drift_detector_fires_on_an_abrupt_concept_switch_and_not_before():
    model = ContextModel(seed=1)
    detections = [t for t, example in enumerate(weather_stream(6000, flip_at=3000))
                  if model.learn_one(*example[:4])]
    assert detections and model.drifts == len(detections)
    assert 3000 <= detections[0] < 3500
    assert model.last_drift_at == float(detections[-1])


def test_a_stationary_stream_raises_no_drift():
    assert trained(ContextModel(seed=1), n=6000).drifts == 0


def test_the_context_model_pickles_with_its_state():
    model = trained(ContextModel(seed=1), n=500)
    clone = pickle.loads(pickle.dumps(model))
    assert np.array_equal(clone.score("u1", [UMBRELLA, SUNGLASSES], RAIN),
                          model.score("u1", [UMBRELLA, SUNGLASSES], RAIN))
    assert clone.n_learned == 500 and clone.auc.get() == model.auc.get()
    assert repr(clone) == repr(model) == (
        "ContextModel(n_hash_bits=20, learning_rate=0.05, l2=0.0, use_context=True, "
        "drift_delta=0.002, seed=1)")


# --- labels ----------------------------------------------------------------------------------

def click(user: str, item: str, ts: float, kind: str = "click") -> Interaction:
    return Interaction(user, item, ts=ts, kind=kind)


def shown(joiner: ImpressionJoiner, request: str, user: str, items: list[str], ts: float):
    joiner.add_impression(request, user, items, ts=ts, context=Context(ts=ts))


def labels(examples: list[Labelled]) -> list[tuple[str, str, bool]]:
    return [(e.user_id, e.item_id, e.label) for e in examples]


def test_a_click_within_the_window_is_a_positive_and_the_rest_become_negatives():
    joiner = ImpressionJoiner(window_s=60)
    shown(joiner, "r1", "u1", ["a", "b", "c"], ts=100.0)
    assert labels(joiner.add_interaction(click("u1", "b", 130.0))) == [("u1", "b", True)]
    assert joiner.expire(now_ts=150.0) == []  # the window is still open
    assert labels(joiner.expire(now_ts=161.0)) == [("u1", "a", False), ("u1", "c", False)]
    assert len(joiner) == 0


def test_the_positive_carries_the_context_of_the_impression():
    joiner = ImpressionJoiner(window_s=60)
    joiner.add_impression("r1", "u1", ["a"], ts=0.0, context=RAIN)
    [positive] = joiner.add_interaction(click("u1", "a", 10.0))
    assert positive == Labelled("u1", "a", RAIN, True, request_id="r1")


def test_each_label_brings_back_the_row_its_item_was_shown_with():
    joiner = ImpressionJoiner(window_s=60)
    rows = [((1,), (0.1,)), ((2,), (0.2,)), ((3,), (0.3,))]
    joiner.add_impression("r1", "u1", ["a", "b", "c"], ts=0.0, context=RAIN, rows=rows)
    [positive] = joiner.add_interaction(click("u1", "b", 10.0))
    negatives = joiner.expire(now_ts=61.0)
    assert (positive.item_id, positive.row) == ("b", ((2,), (0.2,)))
    assert [(e.item_id, e.row) for e in negatives] == [("a", ((1,), (0.1,))),
                                                        ("c", ((3,), (0.3,)))]


def test_rows_that_do_not_match_the_items_one_to_one_are_not_kept():
    joiner = ImpressionJoiner(window_s=60)
    joiner.add_impression("r1", "u1", ["a", "b"], ts=0.0, context=RAIN, rows=[((1,), (0.1,))])
    [positive] = joiner.add_interaction(click("u1", "a", 10.0))
    assert positive.row is None


def test_an_impression_whose_window_passed_without_interaction_emits_negatives():
    joiner = ImpressionJoiner(window_s=60)
    shown(joiner, "r1", "u1", ["a", "b"], ts=0.0)
    assert joiner.add_interaction(click("u1", "a", 61.0)) == []  # too late
    assert labels(joiner.expire(now_ts=61.0)) == [("u1", "a", False), ("u1", "b", False)]


def test_only_the_same_user_and_a_shown_item_join():
    joiner = ImpressionJoiner(window_s=60)
    shown(joiner, "r1", "u1", ["a", "b"], ts=0.0)
    assert joiner.add_interaction(click("u2", "a", 5.0)) == []
    assert joiner.add_interaction(click("u1", "z", 5.0)) == []
    assert joiner.add_interaction(click("u1", "a", -1.0)) == []  # before it was shown


def test_two_clicks_on_one_list_are_two_positives_and_a_repeat_is_not():
    joiner = ImpressionJoiner(window_s=60)
    shown(joiner, "r1", "u1", ["a", "b", "c"], ts=0.0)
    emitted = [*joiner.add_interaction(click("u1", "a", 1.0)),
               *joiner.add_interaction(click("u1", "c", 2.0)),
               *joiner.add_interaction(click("u1", "a", 3.0, kind="purchase"))]
    assert labels(emitted) == [("u1", "a", True), ("u1", "c", True)]
    assert labels(joiner.expire(now_ts=100.0)) == [("u1", "b", False)]


def test_an_interaction_joins_the_latest_impression_that_showed_the_item():
    joiner = ImpressionJoiner(window_s=60)
    shown(joiner, "r1", "u1", ["a", "b"], ts=0.0)
    shown(joiner, "r2", "u1", ["a", "c"], ts=10.0)
    assert labels(joiner.add_interaction(click("u1", "a", 20.0))) == [("u1", "a", True)]
    assert labels(joiner.expire(now_ts=1000.0)) == [
        ("u1", "a", False), ("u1", "b", False), ("u1", "c", False)]


def test_a_replayed_impression_is_labelled_once():
    joiner = ImpressionJoiner(window_s=60)
    shown(joiner, "r1", "u1", ["a"], ts=0.0)
    shown(joiner, "r1", "u1", ["a"], ts=0.0)
    assert labels(joiner.expire(now_ts=100.0)) == [("u1", "a", False)]


def test_memory_is_bounded_by_dropping_the_oldest_impressions():
    joiner = ImpressionJoiner(window_s=60, max_pending=2)
    for n in range(5):
        shown(joiner, f"r{n}", f"u{n}", ["a"], ts=float(n))
    assert len(joiner) == 2 and joiner.dropped == 3
    assert joiner.add_interaction(click("u0", "a", 5.0)) == []  # dropped: nothing to join
    assert labels(joiner.expire(now_ts=1000.0)) == [("u3", "a", False), ("u4", "a", False)]


def test_sampled_negatives_are_distinct_recent_items_other_than_the_positive():
    sampler = NegativeSampler(n=3, seed=0)
    assert labels(sampler.label(click("u1", "a", 0.0))) == [("u1", "a", True)]  # nothing seen
    for n, item in enumerate(["a", "b", "c", "d"] * 5):
        examples = sampler.label(click("u1", item, float(n)))
        positive, *negatives = examples
        assert positive.label and not any(e.label for e in negatives)
        negative_ids = [e.item_id for e in negatives]
        assert item not in negative_ids and len(set(negative_ids)) == len(negative_ids)
        assert set(negative_ids) <= {"a", "b", "c", "d"}


def test_sampled_negatives_follow_recent_popularity():
    sampler = NegativeSampler(n=1, memory=100, seed=0)
    for n in range(100):
        sampler.observe("hit" if n % 10 else "niche")
    drawn = Counter(item for _ in range(2000) for item in sampler.sample(exclude="other"))
    assert 6 < drawn["hit"] / drawn["niche"] < 14  # 9:1 in memory


def test_the_sampler_is_reproducible_from_its_seed():
    def draws(seed):
        sampler = NegativeSampler(n=2, seed=seed)
        return [labels(sampler.label(click("u", f"i{n % 7}", 0.0))) for n in range(50)]
    assert draws(1) == draws(1)


# --- the MF baseline -------------------------------------------------------------------------

def campers_and_cooks(model: BiasedMFBaseline) -> BiasedMFBaseline:
    stream = [("alice", "tent"), ("bob", "kettle"), ("alice", "stove"), ("bob", "mug")] * 60
    for n, (user, item) in enumerate(stream):
        model.learn_one(Interaction(user, item, ts=float(n)))
    return model


def test_biased_mf_recommends_the_items_a_user_learned_first():
    model = campers_and_cooks(BiasedMFBaseline(learning_rate=0.05, negatives=1, seed=0))
    assert {s.item_id for s in model.recommend("alice", 2, RAIN)} == {"tent", "stove"}
    assert {s.item_id for s in model.recommend("bob", 2, RAIN)} == {"kettle", "mug"}
    ranked = model.recommend("alice", 10, RAIN)
    assert len(ranked) == 4 and [s.score for s in ranked] == sorted(
        (s.score for s in ranked), reverse=True)


def test_biased_mf_honours_exclude_and_does_not_invent_state_for_strangers():
    model = campers_and_cooks(BiasedMFBaseline(learning_rate=0.05, negatives=1, seed=0))
    assert "tent" not in {s.item_id for s in model.recommend("alice", 3, RAIN, exclude={"tent"})}
    assert len(model.recommend("stranger", 3, RAIN)) == 3
    assert "stranger" not in model._mf.u_latents
    assert BiasedMFBaseline().recommend("alice", 3, RAIN) == []


def test_biased_mf_pickles_and_echoes_its_hyperparameters():
    model = campers_and_cooks(BiasedMFBaseline(learning_rate=0.05, negatives=1, seed=0))
    clone = pickle.loads(pickle.dumps(model))
    assert clone.recommend("alice", 4, RAIN) == model.recommend("alice", 4, RAIN)
    assert repr(model) == ("BiasedMFBaseline(n_factors=10, learning_rate=0.05, l2=0.001, "
                           "negatives=1, seed=0)")


# --- the prequential evaluator ---------------------------------------------------------------

class Scripted(Recommender):
    """Always recommends the same list (minus exclusions) and logs every call."""

    def __init__(self, ranked: list[str]) -> None:
        self.ranked = ranked
        self.log: list[tuple] = []

    def learn_one(self, interaction: Interaction) -> None:
        self.log.append(("learn", interaction.item_id))

    def recommend(self, user_id, k, context, exclude=()):
        self.log.append(("recommend", user_id, frozenset(exclude)))
        return [Scored(i, 1.0) for i in self.ranked if i not in set(exclude)][:k]


def invoice(user: str, order: str, ts: float, *items: str) -> list[Interaction]:
    return [Interaction(user, item, ts=ts, kind="purchase", session_id=order) for item in items]


TWO_INVOICES = [*invoice("u1", "o1", 1.0, "a", "b"), *invoice("u1", "o2", 2.0, "c", "zz")]


def test_a_basket_is_recommended_for_once_before_any_of_its_lines_is_learned():
    system = Scripted(["x", "a", "b", "c"])
    result = PrequentialEvaluator({"s": system}, k=20, exclude_purchased=False).run(
        TWO_INVOICES).result("two invoices")
    assert system.log == [("recommend", "u1", frozenset()), ("learn", "a"), ("learn", "b"),
                          ("recommend", "u1", frozenset()), ("learn", "c"), ("learn", "zz")]
    # targets a, b, c, zz at ranks 2, 3, 4 and nowhere
    assert result["systems"]["s"] == pytest.approx({
        "hr@20": 3 / 4,
        "mrr@20": (1 / 2 + 1 / 3 + 1 / 4) / 4,
        "ndcg@20": (1 / math.log2(3) + 1 / math.log2(4) + 1 / math.log2(5)) / 4})
    assert (result["stream"], result["events"], result["baskets"], result["targets"]) == (
        "two invoices", 4, 2, 4)


def test_k_cuts_the_list():
    result = PrequentialEvaluator({"s": Scripted(["x", "a", "b", "c"])}, k=2,
                                  exclude_purchased=False).run(TWO_INVOICES).result("k=2")
    assert result["systems"]["s"] == pytest.approx(
        {"hr@2": 1 / 4, "mrr@2": 1 / 8, "ndcg@2": 1 / math.log2(3) / 4})


def test_exclude_purchased_skips_repeat_targets_for_every_system_alike():
    stream = [*invoice("u1", "o1", 1.0, "a"),
              Interaction("u1", "b", ts=1.5, kind="click"),  # a click is not a purchase
              *invoice("u1", "o2", 2.0, "a", "b")]
    first, second = Scripted(["a", "b"]), Scripted(["b", "x"])
    evaluator = PrequentialEvaluator({"first": first, "second": second}, k=20,
                                     exclude_purchased=True).run(stream)
    result = evaluator.result("repeats")
    assert result["targets"] == 3 and result["skipped_repeats"] == 1
    assert first.log[-3] == ("recommend", "u1", frozenset({"a"}))
    # targets: a (first basket), b (click), b (second basket; a skipped as a repeat); once a
    # is bought it is excluded, which lifts b to the top of "first"'s list
    assert result["systems"]["first"]["mrr@20"] == 1.0
    assert result["systems"]["second"]["mrr@20"] == pytest.approx((0 + 1 + 1) / 3)


def test_without_exclusion_repeats_are_targets():
    stream = [*invoice("u1", "o1", 1.0, "a"), *invoice("u1", "o2", 2.0, "a")]
    result = PrequentialEvaluator({"s": Scripted(["a"])}, exclude_purchased=False).run(
        stream).result("repeats")
    assert result["targets"] == 2 and result["systems"]["s"]["hr@20"] == 1.0


def test_sampling_tests_the_same_baskets_for_every_system_and_learns_them_all():
    stream = [Interaction("u1", f"i{n}", ts=float(n)) for n in range(10)]
    one, other = Scripted(["i1"]), Scripted(["i2"])
    evaluator = PrequentialEvaluator({"one": one, "other": other}, sample_every=3).run(stream)
    assert evaluator.metrics["one"].get()["n"] == evaluator.metrics["other"].get()["n"] == 4
    assert [e for e in one.log if e[0] == "learn"] == [("learn", f"i{n}") for n in range(10)]


def test_catalogue_entries_reach_every_system():
    seen: list[ItemInfo] = []

    class Watcher(Scripted):
        def observe_item(self, info):
            seen.append(info)

    PrequentialEvaluator({"w": Watcher([])}).run([UMBRELLA, *TWO_INVOICES])
    assert seen == [UMBRELLA]


def test_the_curve_is_recorded_and_plotted(tmp_path):
    stream = [Interaction(f"u{n % 5}", f"i{n % 7}", ts=float(n)) for n in range(300)]
    evaluator = PrequentialEvaluator(
        {"mf": BiasedMFBaseline(seed=0), "fixed": Scripted(["i1", "i2"])},
        k=20, window=50, curve_every=100).run(stream)
    assert [events for events, _ in evaluator.curve] == [100, 200, 300]
    assert set(evaluator.curve[-1][1]) == {"mf", "fixed"}
    path = tmp_path / "hr.png"
    evaluator.plot(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_models_never_import_stream():
    code = ("import sys, models.metrics, models.features, models.context_model, models.labels, "
            "models.baselines, models.evaluation; "
            "assert not any(m == 'stream' or m.startswith('stream.') for m in sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(models.__file__).parents[1])


def test_a_uniform_sampler_draws_distinct_recent_items_regardless_of_frequency():
    from models.labels import NegativeSampler

    sampler = NegativeSampler(n=1, memory=3, seed=0, uniform=True)
    for item in ["a", "a", "a", "a", "b", "c", "d"]:  # "a" repeated, then pushed out by b, c, d
        sampler.observe(item)
    drawn = {sampler.sample(exclude="z")[0] for _ in range(200)}
    assert drawn == {"b", "c", "d"}


def shop_baskets(n: int = 600, seed: int = 0) -> list[Interaction]:
    """Invoices of 1-4 lines and single clicks by 12 users over 30 items, in two weathers."""
    rng = random.Random(seed)
    lines: list[Interaction] = []
    ts = 0.0
    while len(lines) < n:
        ts += rng.uniform(1.0, 600.0)
        user, weather = f"u{rng.randrange(12)}", rng.choice(["rain", "clear"])
        bought = rng.random() < 0.5
        session = f"o{len(lines)}" if bought else None
        for _ in range(rng.randint(1, 4) if bought else 1):
            item = f"i{min(int(rng.expovariate(0.2)), 29)}"
            lines.append(Interaction(user, item, ts=ts, kind="purchase" if bought else "click",
                                     session_id=session, condition=weather))
    return lines


def live_model() -> ContextReranked:
    return ContextReranked(seed=3, recommender=HybridRecommender(
        mf=OnlineMF(n_factors=8, min_item_count=1, seed=3)))


def sampling_evaluator(model: Recommender) -> PrequentialEvaluator:
    return PrequentialEvaluator({"m": model}, k=10, window=50, curve_every=100, sample_every=2,
                                report_both=True)


def test_an_evaluator_that_only_watches_scores_what_process_basket_scores():
    stream = shop_baskets()
    processed = sampling_evaluator(live_model()).run(stream)

    owned = live_model()  # its owner learns it; the evaluator only watches
    watching = sampling_evaluator(owned)
    baskets = Baskets()
    for closed in [*map(baskets.feed, stream), baskets.flush()]:
        if closed:
            watching.test(closed)
            for line in closed:
                owned.learn_one(line)
            watching.record(closed)

    def scored(evaluator: PrequentialEvaluator) -> dict[str, object]:
        return {key: value for key, value in evaluator.result("shop").items() if key != "timing"}

    assert scored(watching) == scored(processed)
    assert processed.metrics["m"].get()["n"] > 100 and processed.skipped_repeats > 0
    assert watching.metrics["m"].get() == processed.metrics["m"].get()
    assert watching.curve == processed.curve and len(processed.curve) == 6
    context = Context(ts=stream[-1].ts + 1.0, condition="rain")
    assert (owned.recommend("u1", 10, context)
            == processed.systems["m"].recommend("u1", 10, context))
