"""recstream's models: online recommenders, the plain data they learn from, and their evaluation.

The public boundary: every public class and type of the package is importable from here (its
functions and constants stay in their modules, each of which lists its own in ``__all__``).
A name is imported from its module on first use, not when the package is: River and SciPy
take about a second to import, and code that only needs :class:`Interaction` should not pay
for them. models/ never imports the stream package.

>>> import models
>>> models.Interaction("ann", "tea", ts=0.0, kind="purchase").weight
3.0
>>> models.OnlineMF is models.embeddings.OnlineMF
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models.ablation import ContextBlind
    from models.base import Context, Interaction, ItemInfo, Origin, Recommender, Scored, Scorer
    from models.baselines import BiasedMFBaseline
    from models.baskets import Baskets
    from models.context_model import ContextModel
    from models.covisitation import CoVisitation
    from models.decay import ForwardDecay
    from models.embeddings import OnlineMF
    from models.evaluation import PrequentialEvaluator
    from models.hybrid import HybridRecommender
    from models.item_steps import ItemStep
    from models.labels import ImpressionJoiner, Labelled, NegativeSampler
    from models.metrics import RankingMetrics
    from models.popularity import MostPopular
    from models.reranked import ContextReranked
    from models.trending import Trending

__all__ = [
    "Baskets",
    "BiasedMFBaseline",
    "CoVisitation",
    "Context",
    "ContextBlind",
    "ContextModel",
    "ContextReranked",
    "ForwardDecay",
    "HybridRecommender",
    "ImpressionJoiner",
    "Interaction",
    "ItemInfo",
    "ItemStep",
    "Labelled",
    "MostPopular",
    "NegativeSampler",
    "OnlineMF",
    "Origin",
    "PrequentialEvaluator",
    "RankingMetrics",
    "Recommender",
    "Scored",
    "Scorer",
    "Trending",
]

# The module each public name lives in.
_HOMES = {
    "Baskets": "baskets",
    "BiasedMFBaseline": "baselines",
    "CoVisitation": "covisitation",
    "Context": "base",
    "ContextBlind": "ablation",
    "ContextModel": "context_model",
    "ContextReranked": "reranked",
    "ForwardDecay": "decay",
    "HybridRecommender": "hybrid",
    "ImpressionJoiner": "labels",
    "Interaction": "base",
    "ItemInfo": "base",
    "ItemStep": "item_steps",
    "Labelled": "labels",
    "MostPopular": "popularity",
    "NegativeSampler": "labels",
    "OnlineMF": "embeddings",
    "Origin": "base",
    "PrequentialEvaluator": "evaluation",
    "RankingMetrics": "metrics",
    "Recommender": "base",
    "Scored": "base",
    "Scorer": "base",
    "Trending": "trending",
}


def __getattr__(name: str) -> object:
    """Import a public name from its module on first use (PEP 562), then keep it here."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'models' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"models.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
