"""Biased matrix factorisation (River ``reco.BiasedMF``) learned online from implicit feedback.

Every interaction is a rating equal to its weight (click 1, purchase 3), and ``negatives``
items drawn uniformly from the items the model knows are rated 0 for the same user. Without
those zeros the squared loss is minimised by predicting a high rating for every pair and the
ranking carries little taste. Uniform, not popularity-proportional: popular negatives cancel
what the item biases should learn, and in retail popularity is most of the signal. Prequential
HR@20 on the first 150k Online Retail lines (purchased items excluded): 0.059 with these
defaults, 0.016 without negatives, 0.025 with popularity-proportional ones (most popular: 0.055).

River scores one (user, item) pair per call, which is far too slow to rank a catalogue per
request, so the item biases and latent vectors are mirrored into numpy arrays, refreshed for the
items each update touches: a recommendation is then one matrix-vector product.

>>> from models.base import Context, Interaction
>>> model = BiasedMFBaseline(learning_rate=0.05, negatives=1, seed=0)  # a tiny stream: learn fast
>>> stream = [("alice", "tent"), ("bob", "kettle"), ("alice", "stove"), ("bob", "mug")] * 60
>>> for n, (user, item) in enumerate(stream):
...     model.learn_one(Interaction(user, item, ts=float(n)))
>>> sorted(s.item_id for s in model.recommend("alice", k=2, context=Context(ts=0.0)))
['stove', 'tent']
>>> [s.item_id for s in model.recommend("alice", k=1, context=Context(ts=0.0), exclude={"stove"})]
['tent']
"""

from __future__ import annotations

import random
from collections.abc import Iterable

import numpy as np
from river import optim, reco

from models.base import Context, Interaction, Recommender, Scored

__all__ = ["BiasedMFBaseline"]


class BiasedMFBaseline(Recommender):
    """BiasedMF with sampled negatives; ranks every item it has learned."""

    def __init__(self, n_factors: int = 10, learning_rate: float = 0.01, l2: float = 0.001,
                 negatives: int = 2, seed: int | None = 0) -> None:
        self.n_factors = n_factors
        self.learning_rate = learning_rate
        self.l2 = l2
        self.negatives = negatives
        self.seed = seed
        self._mf = reco.BiasedMF(
            n_factors=n_factors,
            bias_optimizer=optim.SGD(learning_rate),
            latent_optimizer=optim.SGD(learning_rate),
            l2_bias=l2,
            l2_latent=l2,
            latent_initializer=optim.initializers.Normal(mu=0.0, sigma=0.1, seed=seed),
            seed=seed,
        )
        self._rng = random.Random(seed)
        self._row: dict[str, int] = {}
        self._item_ids: list[str] = []
        self._latents = np.zeros((64, n_factors))
        self._biases = np.zeros(64)

    def learn_one(self, interaction: Interaction) -> None:
        user_id, item_id = interaction.user_id, interaction.item_id
        self._mf.learn_one(user_id, item_id, interaction.weight)
        self._mirror(item_id)
        known = self._item_ids
        for _ in range(self.negatives if len(known) > 1 else 0):
            negative = known[self._rng.randrange(len(known))]
            if negative != item_id:
                self._mf.learn_one(user_id, negative, 0.0)
                self._mirror(negative)

    def recommend(self, user_id: str, k: int, context: Context,
                  exclude: Iterable[str] = ()) -> list[Scored]:
        n = len(self._item_ids)
        if n == 0 or k <= 0:
            return []
        mf = self._mf
        # The global mean and the user's bias shift every item equally: kept so scores read as
        # predicted ratings, though they never change the order.
        scores = self._biases[:n] + (mf.global_mean.get() + mf.u_biases.get(user_id, 0.0))
        # .get: BiasedMF's defaultdicts would invent (and keep) a random vector for a new user.
        user_latent = mf.u_latents.get(user_id)
        if user_latent is not None:
            scores += self._latents[:n] @ user_latent
        for item_id in exclude:
            row = self._row.get(item_id)
            if row is not None:
                scores[row] = -np.inf
        top = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
        top = top[np.argsort(-scores[top], kind="stable")]
        return [Scored(self._item_ids[i], float(scores[i]), "biased_mf")
                for i in top if scores[i] > -np.inf]

    def _mirror(self, item_id: str) -> None:
        row = self._row.get(item_id)
        if row is None:
            row = len(self._item_ids)
            if row == len(self._biases):  # double the arrays: amortised O(1) per new item
                self._latents = np.concatenate([self._latents, np.zeros_like(self._latents)])
                self._biases = np.concatenate([self._biases, np.zeros_like(self._biases)])
            self._row[item_id] = row
            self._item_ids.append(item_id)
        self._latents[row] = self._mf.i_latents[item_id]
        self._biases[row] = self._mf.i_biases[item_id]
