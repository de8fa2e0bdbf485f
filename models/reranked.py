"""recstream's online recommender: hybrid candidates, re-ranked by the River contextual model.

The hybrid (repeat, co-visitation, embeddings, trending) proposes ``candidates`` items; the
contextual click model scores each for this user, here, in this weather, and the final score is
the hybrid's (scaled to its best) plus ``weight`` times that probability. The contextual model
learns from impressions joined with clicks once impressions exist (:meth:`shown`), and from
sampled negatives before.

>>> from models.base import Context, Interaction
>>> model = ContextReranked(seed=1)
>>> for ts in range(6):
...     model.learn_one(Interaction("u1", "umbrella", ts=float(ts), condition="rain"))
...     model.learn_one(Interaction("u2", "sunglasses", ts=float(ts), condition="clear"))
>>> [s.item_id for s in model.recommend("u3", 2, Context(ts=9.0, condition="rain"))][0]
'umbrella'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import numpy as np

from models.base import Context, Interaction, ItemInfo, Recommender, Scored
from models.context_model import ContextModel
from models.hybrid import HybridRecommender
from models.labels import ImpressionJoiner, Labelled, NegativeSampler


class ContextReranked(Recommender):
    """Hybrid candidates re-ranked by P(click | user, item, context).

    ``weight`` 3 and ``candidates`` 100 were chosen on the first 40k events of the synthetic
    shop: at weight 1 the context barely moved the ranking, at 3 it lifted HR@20 over the blind
    variant. ``use_context`` False hides location and weather from every part (the ablation).
    """

    def __init__(self, weight: float = 3.0, candidates: int = 100, use_context: bool = True,
                 negatives: int = 1, seed: int = 0,
                 recommender: HybridRecommender | None = None) -> None:
        self.weight = weight
        self.candidates = candidates
        self.use_context = use_context
        self.negatives = negatives
        self.seed = seed
        self.recommender = recommender
        # The candidate generator: the one given (configured by the caller), or a default one.
        self.recommender_ = recommender if recommender is not None else HybridRecommender()
        # AUC on every 4th example: River's ROCAUC costs about as much as a learning step.
        self.context_model_ = ContextModel(use_context=use_context, seed=seed, auc_every=4)
        self.sampler_ = NegativeSampler(n=negatives, seed=seed, uniform=True)
        self.joiner_ = ImpressionJoiner()
        self.impressions = 0
        self.joined_labels = 0

    def shown(self, request_id: str, user_id: str, item_ids: Iterable[str],
              context: Context) -> None:
        """An impression: from now on the contextual model learns from joined labels."""
        self.joiner_.add_impression(request_id, user_id, item_ids, context.ts, context)
        self.impressions += 1

    def learn_one(self, interaction: Interaction) -> None:
        if not self.use_context:
            interaction = replace(interaction, location=None, condition=None, temp_c=None)
        self.recommender_.learn_one(interaction)
        examples: list[Labelled]
        if self.impressions:
            examples = (self.joiner_.add_interaction(interaction)
                        + self.joiner_.expire(interaction.ts))
            self.joined_labels += len(examples)
        else:
            examples = self.sampler_.label(interaction)
        for example in examples:
            self.context_model_.learn_one(*example)

    def recommend(self, user_id: str, k: int, context: Context,
                  exclude: Iterable[str] = ()) -> list[Scored]:
        if not self.use_context:
            context = replace(context, location=None, condition=None, temp_c=None)
        candidates = self.recommender_.recommend(user_id, max(k, self.candidates), context,
                                                 exclude)
        if not candidates:
            return []
        base = np.array([c.score for c in candidates])
        if base.max() > 0:
            base = base / base.max()
        final = base + self.weight * self.context_model_.score(
            user_id, [c.item_id for c in candidates], context)
        order = np.argsort(-final, kind="stable")[:k]
        return [Scored(candidates[i].item_id, float(final[i]), candidates[i].source)
                for i in order]

    def observe_item(self, info: ItemInfo) -> None:
        self.recommender_.observe_item(info)
        self.context_model_.observe_item(info)
