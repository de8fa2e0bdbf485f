"""The online models, rule by rule, on worked examples small enough to check by hand."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from models.base import Context, Interaction, ItemInfo
from models.context_model import ContextModel
from models.covisitation import CoVisitation
from models.decay import ForwardDecay
from models.embeddings import OnlineMF, pack, unpack
from models.hybrid import HybridRecommender
from models.popularity import MostPopular
from models.trending import GLOBAL, Trending, scope_keys

HOUR = 3600.0


def ids(scored) -> list[str]:
    return [s.item_id for s in scored]


def test_trending_copies_fed_by_the_items_writers_rank_as_one_model_fed_everything():
    """A worker's copy takes each writer's part of each scope it changed (the broadcast):
    writers count disjoint items, so their best and masses make up the whole."""
    events = [(f"i{n % 150}", float(n * 600), ["London", "Paris", None][n % 3],
               ["rain", "clear"][n % 2], 3.0 if n % 5 == 0 else 1.0) for n in range(3_000)]
    whole, copy = Trending(half_life_s=86_400.0), Trending(half_life_s=86_400.0)
    writers = {0: Trending(half_life_s=86_400.0), 1: Trending(half_life_s=86_400.0)}
    changed: dict[int, set[str]] = {0: set(), 1: set()}

    def publish() -> None:  # a publish interval: each writer's changed scopes
        for source, scopes in changed.items():
            for scope in scopes:
                writer = writers[source]
                copy.take_best(source, scope, writer.landmark, writer.mass(scope),
                               writer.best(scope))
            scopes.clear()

    for n, (item, ts, location, condition, weight) in enumerate(events):
        whole.add(item, weight, ts, location, condition)
        source = int(item[1:]) % 2
        changed[source].update(writers[source].add(item, weight, ts, location, condition))
        if n % 7 == 0:
            publish()
    publish()
    context = Context(ts=3_000 * 600.0, location="Paris", condition="rain")
    assert [(s.item_id, round(s.score, 9)) for s in copy.recommend("u", 20, context)] == [
        (s.item_id, round(s.score, 9)) for s in whole.recommend("u", 20, context)]
    copy.take_best(0, GLOBAL, writers[0].landmark, writers[0].mass(GLOBAL), {}, gone=["i0"])
    assert "i0" not in ids(copy.recommend("u", 150, Context(ts=3_000 * 600.0)))


def test_trending_log_scores_order_items_as_their_decayed_counts_at_any_time():
    model = Trending(half_life_s=10.0)
    model.add("old", 8.0, 0.0, None, None)  # worth 1.0 at t=30
    model.add("new", 2.0, 30.0, None, None)
    old, new = model.count("old", GLOBAL), model.count("new", GLOBAL)
    assert model.log_score(old) == pytest.approx(3.0)  # log2(8) at time 0
    assert 2 ** (model.log_score(new) - 30 / 10) == pytest.approx(2.0)  # its value at t=30
    assert model.log_score(new) > model.log_score(old)


# -- OnlineMF ------------------------------------------------------------------------------------


def worked_mf() -> OnlineMF:
    """Two factors, no regularisation, one negative: with two items it must be the other one."""
    model = OnlineMF(n_factors=2, learning_rate=0.1, regularization=0.0, negatives=1,
                     min_item_count=1)
    model.set_user_vector("u", np.array([1.0, 0.0], dtype=np.float32))
    model.set_item_vector("a", np.array([0.5, 0.5], dtype=np.float32))
    model.set_item_vector("b", np.array([0.5, -0.5], dtype=np.float32))
    return model


def test_mf_step_pulls_the_pair_together_and_pushes_the_negative_apart():
    model = worked_mf()
    model.learn_one(Interaction("u", "a", ts=1.0))  # a click: weight 1
    # Both dot products start at 0.5, so both predictions are sigmoid(0.5) = 0.6225; the
    # gradients are 0.1 * (1 - 0.6225) = 0.03775 for a and 0.1 * (0 - 0.6225) = -0.06225 for b.
    p = 1.0 / (1.0 + math.exp(-0.5))
    g_pos, g_neg = 0.1 * (1.0 - p), 0.1 * (0.0 - p)
    u, a, b = np.array([1.0, 0.0]), np.array([0.5, 0.5]), np.array([0.5, -0.5])
    assert model.user_vector("u") == pytest.approx(u + g_pos * a + g_neg * b, abs=1e-6)
    assert model.item_vector("a") == pytest.approx(a + g_pos * u, abs=1e-6)
    assert model.item_vector("b") == pytest.approx(b + g_neg * u, abs=1e-6)
    assert model.user_vector("u") == pytest.approx([0.98775, 0.05], abs=1e-5)
    scores = model.score_items("u", ["a", "b", "never-seen"])
    assert scores[0] > 0.5 > scores[1]  # 0.556 and 0.407
    assert scores[2] == 0.0


def test_mf_learn_one_is_the_user_half_then_the_item_halves():
    whole = worked_mf()
    split = worked_mf()
    split.defer_item_steps = True
    interaction = Interaction("u", "a", ts=1.0, kind="purchase")
    whole.learn_one(interaction)

    split.learn_one(interaction)
    [item_step] = split.take_item_steps()
    assert item_step.user_vec == pytest.approx([1.0, 0.0])  # the user's vector before the step
    assert (item_step.item_id, item_step.weight) == ("a", 3.0)
    assert split.item_vector("a") == pytest.approx([0.5, 0.5])  # the item half is not run
    # The item side draws its own negative: with two items, b again.
    assert split.apply_item_step(item_step) == ["a", "b"]

    for user_or_item, get in [("u", "user_vector"), ("a", "item_vector"), ("b", "item_vector")]:
        assert getattr(split, get)(user_or_item) == pytest.approx(
            getattr(whole, get)(user_or_item))


def test_queued_user_halves_learn_what_one_at_a_time_learns():
    """A batch of user halves runs in waves (a user's k-th event in wave k): the same user
    vectors and the same item steps as running each event as it comes."""
    items = {f"i{n}": np.random.default_rng(n).normal(0, 0.3, 4).astype(np.float32)
             for n in range(9)}
    stream = [Interaction(f"u{n % 5}", f"i{(n * 7) % 9}", ts=float(n),
                          kind="purchase" if n % 4 == 0 else "click") for n in range(60)]
    batched, one_by_one = (OnlineMF(n_factors=4, seed=5, defer_item_steps=True)
                           for _ in range(2))
    for model in (batched, one_by_one):
        for item, vec in items.items():
            model.set_item_vector(item, vec)
    steps = []
    for interaction in stream:
        batched.learn_one(interaction)
        one_by_one.learn_one(interaction)
        steps += one_by_one.take_item_steps()
    batched_steps = batched.take_item_steps()
    assert len(batched_steps) == len(steps) == 60
    for got, expected in zip(batched_steps, steps, strict=True):
        assert (got.item_id, got.ts, got.weight) == (expected.item_id, expected.ts,
                                                      expected.weight)
        assert got.user_vec == pytest.approx(expected.user_vec, abs=1e-6)
    for n in range(5):
        assert batched.user_vector(f"u{n}") == pytest.approx(one_by_one.user_vector(f"u{n}"),
                                                             abs=1e-6)


def test_deferred_item_steps_learn_what_one_model_learns_when_routed_and_broadcast():
    """The worker's split: user halves on one model, item steps applied by the items' owner,
    whose vectors come back by broadcast. Applied in order, it learns the very same vectors."""
    stream = [(f"u{n % 7}", f"i{(n * 3) % 11}", float(n)) for n in range(400)]
    whole = OnlineMF(n_factors=4, min_item_count=2, seed=3)
    users = OnlineMF(n_factors=4, min_item_count=2, seed=3, defer_item_steps=True)
    owner = OnlineMF(n_factors=4, min_item_count=2, seed=3)
    for user, item, ts in stream:
        interaction = Interaction(user, item, ts=ts)
        whole.learn_one(interaction)
        users.learn_one(interaction)
        for step in users.take_item_steps():
            for item in owner.apply_item_step(step):
                users.set_item_vector(item, owner.item_vector(item), owner.item_last_seen(item))
    assert users.take_item_steps() == []
    assert sorted(users.item_ids()) == sorted(whole.item_ids()) == sorted(owner.item_ids())
    for item in whole.item_ids():
        assert users.item_vector(item) == pytest.approx(whole.item_vector(item), abs=1e-6)
    for n in range(7):
        assert users.user_vector(f"u{n}") == pytest.approx(whole.user_vector(f"u{n}"), abs=1e-6)


def test_a_deferred_model_admits_items_only_by_broadcast():
    users = OnlineMF(n_factors=2, min_item_count=1, defer_item_steps=True)
    users.learn_one(Interaction("u", "a", ts=1.0))
    assert users.item_ids() == [] and users.user_vector("u") is None
    [step] = users.take_item_steps()
    assert (step.item_id, step.user_vec) == ("a", None)
    users.set_item_vector("a", np.array([0.5, 0.5], dtype=np.float32))
    users.drop_item("a")
    assert users.item_ids() == []


def test_min_item_count_gates_embeddings():
    model = OnlineMF(min_item_count=3)
    for t in range(2):
        model.learn_one(Interaction("u", "rare", ts=float(t)))
    assert model.item_vector("rare") is None
    assert model.item_ids() == []
    assert model.recommend("u", 5, Context(ts=2.0)) == []
    model.learn_one(Interaction("u", "rare", ts=2.0))
    assert model.item_vector("rare") is not None
    assert model.item_ids() == ["rare"]
    assert model.item_matrix().shape == (1, 32)


def test_expire_removes_stale_users_and_items_and_frees_their_rows():
    model = OnlineMF(n_factors=4, min_item_count=1, ttl_s=100.0)
    for t, item in enumerate(["a", "b", "a", "b"]):
        model.learn_one(Interaction("old", item, ts=float(t)))
    model.learn_one(Interaction("new", "c", ts=150.0))
    model.learn_one(Interaction("new", "c", ts=151.0))
    b_vector = model.item_vector("b")

    assert model.expire(now_ts=90.0) == ([], [])
    model.learn_one(Interaction("new", "b", ts=160.0))  # b is seen again: it stays
    assert model.expire(now_ts=200.0) == (["old"], ["a"])
    assert model.user_vector("old") is None and model.item_vector("a") is None
    assert sorted(model.item_ids()) == ["b", "c"]
    assert model.item_matrix().shape == (2, 4)
    assert model.item_vector("b") is not None and b_vector is not None
    # Rows stay aligned with ids after the last row moved into the freed one.
    matrix = model.item_matrix()
    for row, item in enumerate(model.item_ids()):
        assert matrix[row] == pytest.approx(model.item_vector(item))


def test_expiry_bounds_memory():
    model = OnlineMF(n_factors=8, min_item_count=1, ttl_s=10.0)
    small = model.nbytes
    for i in range(2000):
        model.learn_one(Interaction(f"u{i}", f"i{i}", ts=0.0))
    assert model.n_items == 2000 and model.nbytes > 10 * small
    users, items = model.expire(now_ts=100.0)
    assert (len(users), len(items)) == (0, 2000)  # the users never reached an item vector
    model.learn_one(Interaction("u", "fresh", ts=100.0))
    model.expire(now_ts=100.0)
    assert model.n_items == 1
    assert model.nbytes < 10 * small


def test_pack_unpack_round_trip_little_endian_float32():
    vec = np.array([1.0, -0.5, 3.25], dtype=np.float32)
    data = pack(vec)
    assert data == b"\x00\x00\x80\x3f\x00\x00\x00\xbf\x00\x00\x50\x40"
    back = unpack(data)
    assert back.dtype == np.float32 and back.flags.writeable
    assert back.tolist() == [1.0, -0.5, 3.25]
    model = worked_mf()
    model.set_user_vector("v", unpack(pack(model.user_vector("u"))))
    assert model.user_vector("v") == pytest.approx(model.user_vector("u"))


def test_mf_recommend_excludes_and_ranks_by_dot_product():
    model = worked_mf()
    model.set_item_vector("c", np.array([0.9, 0.0], dtype=np.float32))
    context = Context(ts=0.0)
    model.set_item_vector("d", np.array([-0.2, 0.0], dtype=np.float32))
    assert ids(model.recommend("u", 4, context)) in (["c", "a", "b", "d"], ["c", "b", "a", "d"])
    assert ids(model.recommend("u", 1, context)) == ["c"]  # scores 0.9, 0.5, 0.5, -0.2
    assert set(ids(model.recommend("u", 2, context, exclude={"c"}))) == {"a", "b"}
    assert model.recommend("stranger", 3, context) == []


# -- Trending ------------------------------------------------------------------------------------


def test_forward_decay_an_event_one_half_life_older_counts_half():
    model = Trending(half_life_s=HOUR)
    model.learn_one(Interaction("u", "old", ts=0.0))
    model.learn_one(Interaction("u", "new", ts=HOUR))
    assert model.top(GLOBAL, 2, now_ts=HOUR) == [("new", 1.0), ("old", 0.5)]
    assert model.top(GLOBAL, 2, now_ts=3 * HOUR) == [("new", 0.25), ("old", 0.125)]
    # What a store would add (landmark 0): the later event's amount is twice the earlier's.
    assert model.increment_for(Interaction("u", "x", ts=2 * HOUR)) == [(GLOBAL, "x", 4.0)]


def test_forward_decay_increments_commute_and_survive_a_landmark_move():
    events = [Interaction("u", "a", ts=t * HOUR, kind="purchase") for t in (0, 30, 60, 90)]
    model = Trending(half_life_s=HOUR)  # the landmark moves every 30 / ln 2 = 43.3 hours
    for event in events:
        model.learn_one(event)
    assert model.landmark is not None and model.landmark > 0.0
    expected = sum(3.0 * 0.5 ** (90 - t) for t in (0, 30, 60, 90))
    assert model.top(GLOBAL, 1, now_ts=90 * HOUR)[0][1] == pytest.approx(expected)

    decay = ForwardDecay(half_life_s=HOUR)
    assert decay.advance(0.0) == 1.0
    stored = sum(decay.amount(3.0, e.ts) for e in reversed(events[:2]))  # any order
    assert stored * decay.factor(30 * HOUR) == pytest.approx(3.0 + 3.0 * 0.5**30)


def test_trending_by_weather_recommends_umbrellas_in_the_rain():
    model = Trending(half_life_s=86_400.0, prior_mass=1.0)
    stream = ([("umbrella", "rain")] * 3 + [("sunglasses", "clear")] * 5
              + [("tea", "rain"), ("tea", "clear")])
    for t, (item, weather) in enumerate(stream):
        model.learn_one(Interaction(f"u{t}", item, ts=float(t), location="Leeds",
                                    condition=weather))
    rain = Context(ts=20.0, location="Leeds", condition="rain")
    sun = Context(ts=20.0, location="Leeds", condition="clear")
    assert ids(model.recommend("anyone", 1, rain)) == ["umbrella"]
    assert ids(model.recommend("anyone", 1, sun)) == ["sunglasses"]
    assert ids(model.recommend("anyone", 1, Context(ts=20.0))) == ["sunglasses"]  # overall
    assert [item for item, _ in model.top("condition=rain", 2, now_ts=20.0)] == ["umbrella", "tea"]
    assert scope_keys("Leeds", "rain") == [
        "global", "location=Leeds", "condition=rain", "location,condition=Leeds|rain"]


def test_trending_thin_scope_backs_off_to_global():
    model = Trending(half_life_s=86_400.0, prior_mass=10.0)
    for t in range(20):
        model.learn_one(Interaction(f"u{t}", "bestseller", ts=float(t), location="Leeds"))
    model.learn_one(Interaction("v", "oddity", ts=21.0, location="Oslo"))
    # One sale in Oslo is too thin to outweigh what sells everywhere.
    assert ids(model.recommend("x", 2, Context(ts=22.0, location="Oslo"))) == [
        "bestseller", "oddity"]
    assert ids(model.recommend("x", 2, Context(ts=22.0, location="Nowhere"))) == [
        "bestseller", "oddity"]


def test_trending_top_list_stays_exact_past_its_kept_size():
    model = Trending(half_life_s=1e9)
    counts = {f"i{n}": 1 + n % 7 for n in range(700)}
    for t, (item, count) in enumerate(counts.items()):
        for _ in range(count):
            model.learn_one(Interaction("u", item, ts=float(t)))
    late = "i0"  # starts at the bottom, then overtakes everyone
    for _ in range(10):
        model.learn_one(Interaction("u", late, ts=800.0))
    full = sorted(counts, key=lambda i: (-(counts[i] + 10 * (i == late))))
    top = model.top(GLOBAL, 50, now_ts=800.0)
    assert [v for _, v in top] == pytest.approx([counts[i] + 10 * (i == late) for i in full[:50]],
                                                rel=1e-6)
    assert top[0][0] == late


# -- CoVisitation --------------------------------------------------------------------------------


def test_covisitation_counts_a_three_item_session():
    model = CoVisitation(window=2)
    for item in ["a", "b", "c"]:
        model.learn_one(Interaction("u", item, ts=0.0, session_id="s1"))
    assert dict(model.neighbours("a", 5)) == {"b": 1.0, "c": 1.0}
    assert dict(model.neighbours("b", 5)) == {"a": 1.0, "c": 1.0}
    assert dict(model.neighbours("c", 5)) == {"a": 1.0, "b": 1.0}

    narrow = CoVisitation(window=1)  # c pairs only with b, the one item before it
    for item in ["a", "b", "c"]:
        narrow.learn_one(Interaction("u", item, ts=0.0, session_id="s1", kind="purchase"))
    assert dict(narrow.neighbours("a", 5)) == {"b": 3.0}  # purchases weigh 3
    assert dict(narrow.neighbours("c", 5)) == {"b": 3.0}


def test_covisitation_pairs_stay_within_a_session():
    model = CoVisitation(window=5)
    model.learn_one(Interaction("u", "a", ts=0.0, session_id="s1"))
    model.learn_one(Interaction("u", "b", ts=1.0, session_id="s2"))
    assert model.neighbours("a", 5) == []
    assert model.recent_items("u") == ["a", "b"]
    # Without sessions the user's last `window` items pair instead.
    model.learn_one(Interaction("v", "a", ts=0.0))
    model.learn_one(Interaction("v", "b", ts=1.0))
    assert model.neighbours("a", 5) == [("b", 1.0)]


def test_covisitation_increments_for_a_store_match_what_it_learns():
    model = CoVisitation(window=2)
    event = Interaction("u", "c", ts=0.0, kind="purchase")
    assert model.increments_for(event, ["a", "b", "c", "a", "b"]) == [
        ("a", "c", 3.0), ("c", "a", 3.0), ("b", "c", 3.0), ("c", "b", 3.0)]
    assert model.neighbours("c", 5) == []  # pure


def test_covisitation_keeps_at_most_max_neighbours():
    model = CoVisitation(window=1, max_neighbours=10)
    for n in range(50):
        model.learn_one(Interaction(f"u{n}", "hub", ts=float(n), session_id=f"s{n}"))
        for _ in range(1 + n % 3):  # some neighbours are stronger than others
            model.learn_one(Interaction(f"u{n}", f"x{n}", ts=float(n), session_id=f"s{n}"))
    assert all(len(model.neighbours(item, 1000)) <= 10 for item in ["hub", "x1", "x2"])
    strongest = model.neighbours("hub", 1)[0][1]
    assert strongest == 1.0  # a repeat of the same item is no new pair: each counts once


def test_covisitation_recommends_neighbours_of_recent_items_most_recent_first():
    model = CoVisitation(window=1)
    for session, basket in enumerate([["tent", "stove"], ["book", "lamp"]]):
        for item in basket:
            model.learn_one(Interaction(f"shopper{session}", item, ts=0.0,
                                        session_id=str(session)))
    model.learn_one(Interaction("u", "book", ts=1.0))
    model.learn_one(Interaction("u", "tent", ts=2.0, session_id="later"))
    assert ids(model.recommend("u", 3, Context(ts=3.0))) == ["stove", "lamp"]
    assert model.recommend("stranger", 3, Context(ts=3.0)) == []


# -- MostPopular ---------------------------------------------------------------------------------


def test_popularity_ranks_by_weighted_count():
    model = MostPopular()
    for item, kind in [("a", "click"), ("b", "click"), ("b", "click"), ("c", "purchase"),
                       ("a", "click")]:
        model.learn_one(Interaction("u", item, ts=0.0, kind=kind))
    recs = model.recommend("anyone", 3, Context(ts=0.0))
    assert [(s.item_id, s.score) for s in recs] == [("c", 3.0), ("a", 2.0), ("b", 2.0)]
    assert ids(model.recommend("anyone", 2, Context(ts=0.0), exclude=["c"])) == ["a", "b"]


# -- HybridRecommender ---------------------------------------------------------------------------


def trained_hybrid() -> HybridRecommender:
    model = HybridRecommender()
    baskets = {"ann": ["tent", "stove", "mug"], "bob": ["tent", "stove", "lamp"],
               "cat": ["book", "lamp"]}
    for user, basket in baskets.items():
        for item in basket:
            model.learn_one(Interaction(user, item, ts=0.0, session_id=user, kind="purchase"))
    model.learn_one(Interaction("dan", "mug", ts=10.0, session_id="d0"))
    model.learn_one(Interaction("dan", "tent", ts=20.0, session_id="d1"))
    return model


def test_hybrid_returns_recent_and_co_visited_items_with_their_sources():
    recs = trained_hybrid().recommend("dan", 4, Context(ts=30.0))
    by_item = {s.item_id: s.source for s in recs}
    assert ids(recs)[:2] == ["tent", "mug"]  # the user's own, most recent first
    assert by_item["tent"] == by_item["mug"] == "repeat"
    assert by_item["stove"] == "covis"  # bought with tent by two shoppers
    assert all(s.score >= t.score for s, t in itertools.pairwise(recs))


def test_hybrid_respects_exclude():
    model = trained_hybrid()
    recs = model.recommend("dan", 10, Context(ts=30.0), exclude={"tent", "stove"})
    assert recs and not {"tent", "stove"} & set(ids(recs))


def test_hybrid_falls_back_to_trending_for_a_new_user():
    recs = trained_hybrid().recommend("newcomer", 3, Context(ts=30.0))
    assert len(recs) == 3 and {s.source for s in recs} == {"trending"}
    assert ids(recs)[0] == "tent"  # three purchases and a click: the most sold


def test_hybrid_builds_its_parts_from_its_arguments():
    model = HybridRecommender(mf=OnlineMF(n_factors=4), covisitation=CoVisitation(window=2))
    assert model.mf_.n_factors == 4 and model.covisitation_.window == 2
    assert model.mf_ is not model.mf  # its own copy: the argument stays untrained
    model.learn_one(Interaction("u", "a", ts=0.0))
    assert model.covisitation_.recent_items("u") == ["a"]
    assert model.covisitation.recent_items("u") == []


def test_each_source_ranks_publicly_what_it_recommends():
    model = trained_hybrid()
    context, excluded = Context(ts=30.0), {"stove"}
    for source in (model.covisitation_, model.mf_, model.trending_):
        ranked = source.ranked("dan", 3, context, excluded)
        recs = source.recommend("dan", 3, context, exclude=excluded)
        assert ranked == [(s.item_id, s.score) for s in recs], type(source).__name__
        assert 0 < len(ranked) <= 3 and "stove" not in dict(ranked)
    assert model.covisitation_.ranked("dan", 0, context, set()) == []


def test_the_hybrid_and_the_reranked_model_expose_their_live_parts():
    from models.reranked import ContextReranked

    model = ContextReranked(recommender=HybridRecommender(learn_trending=False))
    assert model.embeddings is model.recommender_.embeddings is model.recommender_.mf_
    assert model.recommend("anyone", 3, Context(ts=0.0)) == []  # nothing is trending yet
    model.take_trending_part(7, GLOBAL, landmark=0.0, mass=4.0, best={"tea": 3.0, "jam": 1.0},
                             gone=[])
    assert ids(model.recommend("anyone", 3, Context(ts=0.0))) == ["tea", "jam"]
    assert model.recommender_.trending_.mass(GLOBAL) == 4.0
    for n in range(20):
        model.learn_one(Interaction(f"u{n % 3}", "tea", ts=float(n)))
    summary = model.context_summary()
    assert summary == model.context_model_.summary() and summary["n"] > 0
    assert model.drifts == summary["drifts"] == model.context_model_.drifts
    assert model.context_logloss == summary["logloss"] > 0.0


# -- ContextModel ---------------------------------------------------------------------------------


@pytest.mark.parametrize("l2", [0.0, 0.01])
def test_the_context_models_fused_step_is_rivers_learn_one(l2):
    """ContextModel steps River's LogisticRegression itself (to reuse the logit it scored):
    the weights must stay exactly River's, so a River upgrade that changes them fails here."""
    from river import linear_model, optim

    from models.base import ItemInfo
    from models.context_model import ContextModel

    ours = ContextModel(n_hash_bits=10, l2=l2, seed=1)
    river = linear_model.LogisticRegression(optimizer=optim.SGD(0.05), l2=l2,
                                            intercept_lr=0.05)
    for n in range(400):
        item = ItemInfo(f"i{n % 13}", category=f"c{n % 3}", price=float(n % 40))
        context = Context(ts=3600.0 * n, location=f"l{n % 2}", condition="rain")
        label = (n * 7) % 5 < 2
        river.learn_one(ours._encode(f"u{n % 5}", item, context), label)
        ours.learn_one(f"u{n % 5}", item, context, label)
    assert ours._classifier.intercept == river.intercept
    assert dict(ours._classifier._weights) == dict(river._weights)


def test_trending_answers_for_a_time_a_century_before_what_it_counted():
    from models.base import Context, Interaction
    from models.trending import Trending

    model = Trending(half_life_s=7 * 86_400.0)
    model.learn_one(Interaction("ann", "tea", ts=1.7e9, location="Leeds", condition="rain"))
    old = model.recommend("bob", 3, Context(ts=-2.2e9, location="Leeds", condition="rain"))
    assert [s.item_id for s in old] == ["tea"] and all(math.isfinite(s.score) for s in old)


def test_models_sharing_an_item_table_learn_exactly_what_a_model_with_its_own_learns():
    import numpy as np

    from models.base import Interaction
    from models.embeddings import OnlineMF
    from models.vectors import VectorTable

    def model() -> OnlineMF:
        return OnlineMF(n_factors=4, min_item_count=1, defer_item_steps=True, seed=3)

    alone, sharing, table = model(), model(), VectorTable(4)
    sharing.share_items(table)
    first = {item: np.full(4, 0.1 * n, dtype=np.float32) for n, item in enumerate("abc")}
    for item, vector in first.items():
        alone.set_item_vector(item, vector, ts=0.0)
        table.put(item, vector, 0.0)
    for n in range(6):
        line = Interaction("ann", "abc"[n % 3], ts=float(n + 1))
        alone.learn_one(line)
        sharing.learn_one(line)
    # The broadcast moves a vector: the owner runs the sharing model's queue first.
    sharing.flush()
    table.put("a", np.ones(4, dtype=np.float32), 7.0)
    alone.set_item_vector("a", np.ones(4, dtype=np.float32), ts=7.0)
    np.testing.assert_array_equal(alone.user_vector("ann"), sharing.user_vector("ann"))
    np.testing.assert_array_equal(alone.item_matrix(), sharing.item_matrix())


def test_a_snapshot_of_a_model_leaves_the_shared_item_table_out():
    import pickle

    import numpy as np

    from models.embeddings import OnlineMF
    from models.vectors import VectorTable

    table = VectorTable(4)
    for n in range(1000):
        table.put(f"i{n}", np.ones(4, dtype=np.float32), 0.0)
    sharing = OnlineMF(n_factors=4, defer_item_steps=True)
    sharing.share_items(table)
    restored = pickle.loads(pickle.dumps(sharing))
    assert sharing.n_items == 1000 and restored.n_items == 0
    restored.share_items(table)
    assert restored.n_items == 1000


def test_the_context_models_catalogue_keeps_its_latest_entries_only(monkeypatch):
    import models.context_model as context_model

    monkeypatch.setattr(context_model, "CATALOGUE_KEPT", 3)
    model = ContextModel()
    for n in range(10):
        model.observe_item(ItemInfo(f"i{n}", category="c"))
    model.observe_item(ItemInfo("i7", category="again"))  # observed again: newest
    assert list(model._catalogue) == ["i8", "i9", "i7"]


def test_a_given_scorer_reranks_the_candidates_and_the_context_model_keeps_learning():
    from models.reranked import ContextReranked

    class Prefers:
        """A scorer that likes one item above all."""

        def __init__(self, item: str) -> None:
            self.item = item

        def score(self, user_id, items, context):
            return np.array([1.0 if item == self.item else 0.0 for item in items])

    model = ContextReranked(seed=1)
    for ts, item in enumerate(["tea", "tea", "jam", "mug", "tea"]):
        model.learn_one(Interaction("u1", item, ts=float(ts)))
    assert model.recommend("u1", 1, Context(ts=9.0))[0].item_id == "tea"
    model.use_scorer(Prefers("mug"))
    learned = model.context_model_.n_learned
    model.learn_one(Interaction("u1", "jam", ts=10.0))
    assert model.recommend("u1", 1, Context(ts=11.0))[0].item_id == "mug"
    assert model.context_model_.n_learned > learned
    model.use_scorer(None)
    assert model.recommend("u1", 1, Context(ts=11.0))[0].item_id != "mug"
