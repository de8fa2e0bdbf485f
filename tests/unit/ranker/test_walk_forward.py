"""The walk-forward replay: a version at every boundary, trained only on rows logged before it,
and live only when the gate lets it (PyTorch: the ``train`` extra, which CI installs)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping

import pytest

from models.base import Context, Interaction, Recommender, Scored
from models.evaluation import PrequentialEvaluator
from models.ranker.examples import ImpressionLog
from models.ranker.gate import decide
from models.ranker.memory import RankerMemory
from models.ranker.serving import LiveRanker
from models.reranked import ContextReranked
from stream.ranker.prequential import RANKED, WithRanker
from stream.ranker.walk_forward import Retrainer, summary, walk_forward

pytest.importorskip("torch", reason="the train extra: pip install 'recstream[train]'")

from models.ranker.train import TrainConfig

HOUR, DAY = 3600.0, 86_400.0
START = 1_000_000.0


def shop(days: int = 8, seed: int = 0) -> list[Interaction]:
    """Two baskets an hour; each user buys mostly from three favourite items."""
    rng = random.Random(seed)
    stream = []
    for hour in range(days * 24):
        for user in (hour % 30, (hour * 7 + 3) % 30):
            ts = START + hour * HOUR + user
            favourites = [f"i{(user * 3 + j) % 40}" for j in range(3)]
            for item in {*rng.sample(favourites, 2), f"i{rng.randrange(40)}"}:
                stream.append(Interaction(f"u{user}", item, ts=ts, session_id=f"{user}-{hour}",
                                          kind="purchase"))
    return stream


class Spy(Recommender):
    """The ranked system, noting which version was live at each of its requests."""

    def __init__(self, inner: WithRanker, live: LiveRanker) -> None:
        self.inner, self.live = inner, live
        self.used: list[tuple[float, str | None]] = []

    def learn_one(self, interaction: Interaction) -> None:
        self.inner.learn_one(interaction)

    def recommend(self, user_id: str, k: int, context: Context,
                  exclude: Iterable[str] = ()) -> list[Scored]:
        self.used.append((context.ts, self.live.version))
        return self.inner.recommend(user_id, k, context, exclude)


def refuse_w2(candidate: str, its: Mapping[str, float], incumbent: str,
              theirs: Mapping[str, float]) -> tuple[bool, str]:
    """The gate, made predictable: every version passes but w2."""
    return candidate != "w2", f"{candidate} {'refused' if candidate == 'w2' else 'passed'}"


def replay(rule=decide) -> tuple[Retrainer, Spy, PrequentialEvaluator]:
    live = LiveRanker()
    spy = Spy(WithRanker(ContextReranked(candidates=20, seed=1), live), live)
    evaluator = PrequentialEvaluator({"plain": ContextReranked(candidates=20, seed=1),
                                      RANKED: spy}, k=20, report_both=True)
    log = ImpressionLog(ContextReranked(candidates=20, seed=1), RankerMemory(), candidates=20)
    retrainer = Retrainer(live, TrainConfig(epochs=1, batch_size=256), rule=rule,
                          min_requests=50)
    walk_forward(shop(), evaluator, log, retrainer, every_s=2 * DAY)
    return retrainer, spy, evaluator


@pytest.fixture(scope="module")
def refused_w2():
    return replay(refuse_w2)


def test_a_version_at_every_boundary_trained_only_before_it(refused_w2):
    retrainer, _, _ = refused_w2
    # The stream's 8 days from its first basket: boundaries after days 2, 4 and 6.
    assert [r["boundary"] for r in retrainer.records] == [START + d * DAY for d in (2, 4, 6)]
    assert [r["version"] for r in retrainer.records] == ["w1", "w2", "w3"]
    for r in retrainer.records:
        assert r["train"]["from_ts"] >= START
        assert r["train"]["to_ts"] < r["later"]["from_ts"] <= r["later"]["to_ts"] < r["boundary"]
        assert r["train"]["requests"] + r["later"]["requests"] == r["impressions"]
        assert r["parity"]["passed"]
    # Each boundary trains on more rows than the one before: everything logged until then.
    trained = [r["train"]["rows"] for r in retrainer.records]
    assert trained == sorted(trained) and trained[0] < trained[-1]


def test_a_refused_version_is_never_used(refused_w2):
    retrainer, spy, _ = refused_w2
    assert [(r["promoted"], r["live"]) for r in retrainer.records] == [
        (True, "w1"), (False, "w1"), (True, "w3")]
    b1, _, b3 = (r["boundary"] for r in retrainer.records)
    assert {version for ts, version in spy.used if ts < b1} == {None}
    assert {version for ts, version in spy.used if b1 <= ts < b3} == {"w1"}
    assert {version for ts, version in spy.used if ts >= b3} == {"w3"}


def test_the_real_gate_decides_against_the_live_version_and_the_figures_add_up():
    retrainer, _, evaluator = replay()
    live = "river"
    for r in retrainer.records:
        assert r["incumbent"]["version"] == live
        assert r["reason"].startswith(f"{r['version']} {'beats' if r['promoted'] else 'does'}")
        live = r["version"] if r["promoted"] else live
        assert r["live"] == live
    figures = summary(evaluator)["protocols"]
    assert figures["exclude_purchased"]["plain"]["n"] == figures["exclude_purchased"][RANKED]["n"]
    assert figures["include_purchased"][RANKED]["n"] > figures["exclude_purchased"][RANKED]["n"]
