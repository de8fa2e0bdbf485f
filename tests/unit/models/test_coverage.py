"""Coverage counts, per location, known users' asks answered with a personalised list."""

from __future__ import annotations

from models.base import Interaction
from models.evaluation import PrequentialEvaluator
from models.hybrid import HybridRecommender
from models.popularity import MostPopular


def test_only_users_with_an_earlier_basket_count_and_a_fallback_is_not_personalised():
    stream = [Interaction("ann", "tent", ts=1.0, location="Leeds", kind="purchase"),
              Interaction("bob", "tent", ts=2.0, location="York", kind="purchase"),
              Interaction("bob", "stove", ts=3.0, location="York", kind="purchase"),
              Interaction("ann", "stove", ts=4.0, location="Leeds", kind="purchase"),
              Interaction("cat", "stove", ts=5.0, location="York", kind="purchase")]
    evaluator = PrequentialEvaluator({"hybrid": HybridRecommender(), "popular": MostPopular()},
                                     k=20).run(stream)
    coverage = evaluator.result("toy")["coverage"]
    # Two asks by known users (bob's and ann's second); cat's first ask does not count.
    assert coverage["hybrid"]["asked"] == coverage["popular"]["asked"] == 2
    # bob's second ask: his tent is excluded (bought) and nobody's tent has a neighbour yet, so
    # he gets trending, a fallback. ann's comes after bob bought a tent and then a stove: her
    # tent's neighbour is the stove, proposed for her.
    assert coverage["hybrid"]["by_location"] == {"Leeds": 1.0, "York": 0.0}
    assert coverage["popular"]["coverage"] == 0.0


def test_a_forgotten_user_is_unknown_again():
    evaluator = PrequentialEvaluator({"hybrid": HybridRecommender()}, k=20)
    evaluator.run([Interaction("ann", "tent", ts=1.0, kind="purchase")])
    evaluator.forget_users(["ann"])
    evaluator.run([Interaction("ann", "stove", ts=2.0, kind="purchase")])
    assert evaluator.result("toy")["coverage"]["hybrid"]["asked"] == 0
