"""P(click or purchase | user, item, context): an online logistic regression on hashed features.

The features come from :func:`models.features.features`, the one function training and serving
share. They are hashed into ``2**n_hash_bits`` buckets by River's ``FeatureHasher`` (one native
call per example), so memory stays bounded however many users and items arrive. Scoring,
metrics, learning and drift watch together take about 12 µs an example on one core, fast enough
to learn from every labelled impression; a default ``OneHotEncoder`` pipeline would be about a
hundred times slower.

Learning is prequential: each example is first predicted, the prediction scored by ``logloss``
and ``auc`` (River metrics), then learned. The per-example loss feeds an ADWIN detector; a drift
is counted when the loss level rises (``drifts``, ``last_drift_at``). The first four fields of
a :class:`models.labels.Labelled` example are :meth:`ContextModel.learn_one`'s arguments.

On a tiny stream where rain sells umbrellas and sun sells sunglasses:

>>> from models.base import Context, ItemInfo
>>> umbrella, sunglasses = ItemInfo("umbrella", "rainwear"), ItemInfo("sunglasses", "summer")
>>> rain, sun = Context(ts=0.0, condition="rain"), Context(ts=0.0, condition="clear")
>>> model = ContextModel(seed=1)
>>> for n in range(200):
...     context = rain if n % 2 else sun
...     for item in (umbrella, sunglasses):
...         clicked = (item is umbrella) == (context is rain)
...         _ = model.learn_one(f"u{n % 5}", item, context, clicked)
>>> [round(float(p), 1) for p in model.score("u9", [umbrella, sunglasses], rain)]
[0.9, 0.1]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from river import drift, linear_model, metrics, optim, preprocessing
from river.utils import VectorDict
from river.utils.math import clamp

from models.base import Context, DerivedState, ItemInfo
from models.feature_columns import CandidateColumns
from models.features import features

__all__ = ["ContextModel"]

# Catalogue entries a model keeps (a few hundred bytes each): far more than a shop's live range.
CATALOGUE_KEPT = 200_000
# Buckets changed since the dense copy of the weights was last brought up to date, at most: past
# it (learning long without scoring, as a replay does) the copy is dropped and built afresh when
# next scored, rather than a set of up to a million buckets kept.
STALE_KEPT = 65_536


class ContextModel(DerivedState):
    """Online logistic regression on hashed (user, item, context) features.

    ``learning_rate`` is a constant SGD rate for weights and intercept. Constant, so the model
    keeps tracking a drifting shop: on a synthetic stream whose weather effects flip half-way,
    AdaGrad led before the flip (AUC 0.75 against 0.73) but its per-feature rates only ever
    decay, and 30k events after the flip it stood at 0.66 against SGD's 0.77. ``l2`` shrinks
    the weights of the features present in each example (River applies it lazily). ``seed``
    fixes the hash; ``use_context`` is the ablation switch of :func:`models.features.features`.
    """

    DERIVED = ("_columns", "_dense", "_changed")

    _columns: CandidateColumns
    _dense: np.ndarray | None
    _changed: set[int]

    def __init__(self, n_hash_bits: int = 20, learning_rate: float = 0.05, l2: float = 0.0,
                 use_context: bool = True, drift_delta: float = 0.002,
                 seed: int | None = 0, auc_every: int = 1) -> None:
        self.n_hash_bits = n_hash_bits
        self.learning_rate = learning_rate
        self.l2 = l2
        self.use_context = use_context
        self.drift_delta = drift_delta
        self.seed = seed
        # River's ROCAUC costs about as much per update as learning (a confusion matrix per
        # threshold): a worker estimates it on every n-th example.
        self.auc_every = auc_every
        self._hasher = preprocessing.FeatureHasher(n_features=2**n_hash_bits, seed=seed)
        self._classifier = linear_model.LogisticRegression(
            optimizer=optim.SGD(learning_rate), l2=l2, intercept_lr=learning_rate)
        self._catalogue: dict[str, ItemInfo] = {}
        self._derive()
        self.logloss = metrics.LogLoss()
        self.auc = metrics.ROCAUC()
        self._detector = drift.ADWIN(delta=drift_delta)
        self.n_learned = 0
        self.drifts = 0
        self.last_drift_at: float | None = None

    def observe_item(self, info: ItemInfo) -> None:
        """Catalogue facts, used whenever an item arrives as a bare id. The latest
        ``CATALOGUE_KEPT`` entries are kept: an item id is whatever a catalogue message says,
        and an item forgotten here is scored by its id alone until it is observed again."""
        self._catalogue.pop(info.item_id, None)
        self._catalogue[info.item_id] = info
        self._columns.forget(info.item_id)
        if len(self._catalogue) > CATALOGUE_KEPT:
            oldest = next(iter(self._catalogue))
            del self._catalogue[oldest]
            self._columns.forget(oldest)

    def learn_one(self, user_id: str, item: ItemInfo | str, context: Context,
                  label: bool) -> bool:
        """Score, then learn one labelled example; True when it revealed a drift."""
        x = self._encode(user_id, item, context)
        classifier = self._classifier
        raw = classifier._raw_dot_one(x)
        p = classifier.loss.mean_func(raw)  # predict_proba_one(x)[True]
        self.logloss.update(label, p)
        if self.n_learned % self.auc_every == 0:
            self.auc.update(label, p)
        self._step(x, label, raw)
        self.n_learned += 1
        return self._watch(p, label, context.ts)

    def predict_proba(self, user_id: str, item: ItemInfo | str, context: Context) -> float:
        """P(click or purchase) of one example, by River: what :meth:`score` computes."""
        return self._classifier.predict_proba_one(self._encode(user_id, item, context))[True]

    def score(self, user_id: str, items: Sequence[ItemInfo | str], context: Context) -> np.ndarray:
        """P(click or purchase) of each candidate, in the order given: :meth:`predict_proba`
        of each, for all of them at once (:mod:`models.feature_columns`)."""
        columns = self._columns.columns(user_id, items, context, self._catalogue)
        codes = np.empty((len(columns), len(items)), dtype=np.int64)
        for row, column in enumerate(columns):
            codes[row] = column
        terms = np.sign(codes) * self._weights()[np.abs(codes) - 1]  # absent: 0 * weights[-1]
        # Term by term in the order of the features (a cumulative sum adds in order), as
        # River's dot product adds them up; then the intercept.
        logits = terms.cumsum(axis=0)[-1] + self._classifier.intercept
        # River's sigmoid: saturated outside [-30, 30], with math.exp (numpy's exp differs
        # from it in the last bit now and then).
        inside = np.clip(logits, -30.0, 30.0)
        exps = np.fromiter(map(math.exp, (-inside).tolist()), float, len(items))
        return np.where(logits < -30, 0.0, np.where(logits > 30, 1.0, 1.0 / (1.0 + exps)))

    def summary(self) -> dict[str, float]:
        """Prequential metrics and drift count, for export."""
        return {"logloss": self.logloss.get(), "auc": float(self.auc.get()), "n": self.n_learned,
                "drifts": self.drifts}

    def _weights(self) -> np.ndarray:
        """The dense copy of the weights, brought up to date with River's."""
        weights = self._classifier._weights
        if self._dense is None:
            self._dense = np.zeros(2**self.n_hash_bits)
            self._changed = set(weights.keys())
        if self._changed:
            changed = list(self._changed)
            self._dense[changed] = weights.to_numpy(changed)
            self._changed = set()
        return self._dense

    def _derive(self) -> None:
        """The state derived from the rest, for scoring: left out of snapshots."""
        self._columns = CandidateColumns(self._hasher, self.use_context)
        # The weights as a dense array, for scoring many candidates with numpy (8 MB at 2**20
        # buckets), built at the first score and kept in step with River's by the buckets each
        # learning step changed.
        self._dense = None
        self._changed = set()

    def _encode(self, user_id: str, item: ItemInfo | str, context: Context) -> dict[int, float]:
        if isinstance(item, str):
            item = self._catalogue.get(item, item)
        return self._hasher.transform_one(
            features(user_id, item, context, use_context=self.use_context))

    def _step(self, x: dict[int, float], label: bool, raw: float) -> None:
        """River's ``LogisticRegression.learn_one(x, label)``, reusing the logit ``raw`` of x.

        River would compute the logit again and wrap the step in about a dozen Python calls,
        which cost more than the arithmetic (2 of a learning step's 6.6 µs). The operations and
        their order are River's own (``GLM._fit`` with a per-example weight of 1), so the
        weights come out bit for bit the same.
        """
        classifier, optimizer = self._classifier, self._classifier.optimizer
        clip = classifier.clip_gradient
        gradient = float(clamp(classifier.loss.gradient(y_true=label, y_pred=raw), -clip, clip))
        # River steps on the weights seen through the example's keys: a new key starts from the
        # initializer, and L2 shrinks only the weights the example touches.
        weights: VectorDict[int, float] = VectorDict(classifier._weights, classifier.initializer, x)
        step = VectorDict.from_scaled(x, gradient)
        if classifier.l2:
            step.iadd_scaled(weights, classifier.l2)
        classifier.intercept -= classifier.intercept_lr.get(optimizer.n_iterations) * gradient
        weights.isub_scaled(step, optimizer.learning_rate)
        optimizer.n_iterations += 1
        if self._dense is not None:  # else it is built afresh when next scored
            self._changed.update(x)
            if len(self._changed) > STALE_KEPT:
                self._dense = None

    def _watch(self, p: float, label: bool, ts: float) -> bool:
        # ADWIN watches the squared error (Brier score): a proper loss bounded in [0, 1], which
        # suits ADWIN's bound better than a log loss that explodes on one confident mistake.
        # ADWIN flags any change of level, and while the model learns its loss falls: only a
        # rise is a drift. On a detection ADWIN cuts its window to the recent part, so the
        # estimate after the update is the new level and the one before is the old.
        before = self._detector.estimation
        self._detector.update((p - label) ** 2)
        if not (self._detector.drift_detected and self._detector.estimation > before):
            return False
        self.drifts += 1
        self.last_drift_at = ts
        return True

    def __repr__(self) -> str:
        return (f"ContextModel(n_hash_bits={self.n_hash_bits!r}, "
                f"learning_rate={self.learning_rate!r}, l2={self.l2!r}, "
                f"use_context={self.use_context!r}, drift_delta={self.drift_delta!r}, "
                f"seed={self.seed!r})")
