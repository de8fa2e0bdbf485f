"""One contract every recommender in models/ keeps (River's ``check_estimator`` idea).

Models are snapshotted with pickle and restored on another worker after a rebalance, so a restored
model must behave as the original; replays must be reproducible; the stream's events are shared
between models, so none may change them. Every concrete :class:`Recommender` defined in a module
of ``models`` is found and checked: a new model joins the suite by existing. ``EXAMPLES`` gives
constructor arguments (built fresh for every model made) where non-defaults exercise more, or
where the constructor requires some; a model not listed there is checked with its defaults.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import pickle
import pkgutil
import random
from collections.abc import Callable

import pytest

import models
from models.base import Context, Interaction, Recommender, Scored
from models.embeddings import OnlineMF
from models.trending import Trending

EXAMPLES: dict[str, Callable[[], dict[str, object]]] = {
    "OnlineMF": lambda: {"n_factors": 8, "min_item_count": 1, "seed": 7},
    # Nine scopes in the stream: the bound of eight makes it forget places as it learns.
    "Trending": lambda: {"half_life_s": 3600.0, "prior_mass": 2.0, "max_scopes": 8},
    "CoVisitation": lambda: {"window": 3, "max_neighbours": 6, "half_life_s": 7200.0},
    "HybridRecommender": lambda: {"mf_weight": 0.7, "candidates": 10,
                                  "mf": OnlineMF(n_factors=4, min_item_count=1)},
    "ContextBlind": lambda: {"inner": Trending(half_life_s=3600.0)},
}
# The models this suite was written with: discovery must keep finding them.
REQUIRED = {"OnlineMF", "Trending", "CoVisitation", "MostPopular", "HybridRecommender"}


def discover() -> dict[str, type[Recommender]]:
    found = {}
    for info in pkgutil.iter_modules(models.__path__):
        module = importlib.import_module(f"models.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (issubclass(cls, Recommender) and not inspect.isabstract(cls)
                    and cls.__module__ == module.__name__):
                found[cls.__name__] = cls
    return found


RECOMMENDERS = discover()


def example(name: str) -> dict[str, object]:
    if name in EXAMPLES:
        return EXAMPLES[name]()
    required = [p.name for p in inspect.signature(RECOMMENDERS[name]).parameters.values()
                if p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD]
    if required:
        pytest.fail(f"{name} requires {required}: give it an entry in EXAMPLES ({__file__})")
    return {}


def make(name: str) -> Recommender:
    return RECOMMENDERS[name](**example(name))


def shop_stream(n: int = 400, seed: int = 0) -> list[Interaction]:
    """Sessions of clicks and purchases by 30 users over 25 items, in two towns and weathers."""
    rng = random.Random(seed)
    events, ts = [], 1_300_000_000.0
    while len(events) < n:
        user = f"u{rng.randrange(30)}"
        session = f"s{len(events)}"
        town, weather = rng.choice(["Leeds", "York"]), rng.choice(["rain", "clear", None])
        for _ in range(rng.randint(1, 6)):
            ts += rng.uniform(0.0, 900.0)
            events.append(Interaction(
                user, f"i{min(int(rng.expovariate(0.15)), 24)}", ts=ts,
                kind=rng.choice(["click", "click", "purchase"]), session_id=session,
                location=town, condition=weather))
    return events[:n]


STREAM = shop_stream()
CONTEXT = Context(ts=STREAM[-1].ts + 60.0, location="Leeds", condition="rain")
USERS = ["u0", "u1", "u7", "u29", "never-seen"]


def trained(name: str, events: list[Interaction] = STREAM) -> Recommender:
    model = make(name)
    for event in events:
        model.learn_one(event)
    return model


def answers(model: Recommender, k: int = 10) -> list[list[tuple[str, float, str]]]:
    return [[(s.item_id, s.score, s.source) for s in model.recommend(user, k, CONTEXT)]
            for user in USERS]


names = pytest.mark.parametrize("name", sorted(RECOMMENDERS))


def test_discovery_finds_every_model():
    assert set(RECOMMENDERS) >= REQUIRED


@names
def test_pickles_to_an_equal_behaving_model(name):
    model = trained(name, STREAM[:300])
    restored = pickle.loads(pickle.dumps(model))
    assert answers(restored) == answers(model)
    for event in STREAM[300:]:  # and they go on learning alike
        model.learn_one(event)
        restored.learn_one(event)
    assert answers(restored) == answers(model)
    assert repr(restored) == repr(model)


@names
def test_same_arguments_same_recommendations(name):
    assert answers(trained(name)) == answers(trained(name))


@names
def test_learn_and_recommend_leave_their_inputs_unchanged(name):
    model = make(name)
    for event in STREAM:
        before = copy.deepcopy(event)
        model.learn_one(event)
        assert event == before
    exclude = {"i0", "i3"}
    model.recommend("u1", 5, CONTEXT, exclude=exclude)
    assert exclude == {"i0", "i3"}


@names
@pytest.mark.parametrize("k", [0, 1, 5, 100])
def test_recommend_returns_at_most_k_distinct_unexcluded_items_best_first(name, k):
    model = trained(name)
    for user in USERS:
        for exclude in [(), {"i0", "i1", "i2"}, ["i0"], (f"i{n}" for n in range(24))]:
            exclude = list(exclude)
            recs = model.recommend(user, k, CONTEXT, exclude=iter(exclude))  # any iterable
            items = [s.item_id for s in recs]
            assert len(recs) <= k
            assert len(items) == len(set(items))
            assert not set(items) & set(exclude)
            assert all(isinstance(s, Scored) and isinstance(s.item_id, str) for s in recs)
            scores = [s.score for s in recs]
            assert scores == sorted(scores, reverse=True)


@names
def test_repr_echoes_constructor_arguments(name):
    cls = RECOMMENDERS[name]
    given = example(name)
    signature = inspect.signature(cls.__init__)
    expected = {p: given.get(p, signature.parameters[p].default)
                for p in signature.parameters if p != "self"}
    arguments = ", ".join(f"{p}={v!r}" for p, v in expected.items())
    assert repr(cls(**given)) == f"{name}({arguments})"


@names
def test_cold_start_answers_without_error(name):
    empty = make(name)
    assert empty.recommend("never-seen", 5, CONTEXT) == []
    model = trained(name)
    assert isinstance(model.recommend("never-seen", 5, Context(ts=CONTEXT.ts)), list)
    model.learn_one(Interaction("brand-new", "new-item", ts=CONTEXT.ts))
    assert isinstance(model.recommend("brand-new", 5, CONTEXT), list)
