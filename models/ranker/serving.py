"""The ranker in a worker: an onnxruntime session behind the :class:`~models.base.Scorer`
protocol, and the one reference every shard's scorer reads, swapped whole (no torch here).

:class:`RankerSession` refuses an artefact whose sha256 is not the registered one or whose graph
does not take this code's inputs (:class:`ArtefactRefused`, with what was wrong). One session runs
on one thread: a worker is one process per core, and a 500-row request is too small to split.

:class:`LiveRanker` holds the session serving now, or None (then the River context model ranks).
A swap is one attribute assignment: a request ranks on the session it read, so a request in
flight finishes on the model it started with, and the next one takes the new.

>>> from models.base import Context
>>> from models.ranker.memory import RankerMemory
>>> from models.ranker.online import OnlineFeatures
>>> from models.reranked import ContextReranked
>>> model = ContextReranked()
>>> live = LiveRanker()
>>> scorer = RankerScorer(live, OnlineFeatures(model, RankerMemory()))
>>> scorer.score("u1", ["tea"], Context(ts=0.0)).tolist()  # no version live: River's
[0.5]
>>> live.version is None
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import onnxruntime as ort

from models.base import Context, ItemInfo
from models.ranker.features import DENSE, FIELDS, Inputs
from models.ranker.online import OnlineFeatures

__all__ = ["ArtefactRefused", "LiveRanker", "RankerScorer", "RankerSession"]

# What a graph must take and give: name -> (onnxruntime type, columns).
SIGNATURE: dict[str, tuple[str, int]] = {"ids": ("tensor(int64)", len(FIELDS)),
                                         "dense": ("tensor(float)", len(DENSE))}


class ArtefactRefused(ValueError):
    """A model artefact that must not serve: its checksum or its inputs are not as registered."""


class RankerSession:
    """One ranker version, loaded and checked; :meth:`predict` scores rows."""

    def __init__(self, version: str, onnx: bytes, sha256: str | None = None) -> None:
        digest = hashlib.sha256(onnx).hexdigest()
        if sha256 is not None and digest != sha256:
            raise ArtefactRefused(f"ranker {version}: sha256 {digest[:12]}… is not the "
                                  f"registered {sha256[:12]}… (corrupt or replaced artefact)")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(onnx, options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types for an unreadable graph
            raise ArtefactRefused(f"ranker {version}: not a readable ONNX graph ({exc})") from exc
        found = {i.name: (i.type, i.shape[-1] if i.shape else None)
                 for i in self._session.get_inputs()}
        if found != SIGNATURE:
            raise ArtefactRefused(f"ranker {version}: inputs {found} do not match this "
                                  f"worker's features {SIGNATURE}")
        self.version = version
        self.sha256 = digest

    def predict(self, inputs: Inputs) -> np.ndarray:
        return self._session.run(["p"], inputs.feeds())[0]


class LiveRanker:
    """The session every shard's scorer reads now (None: the River model ranks)."""

    def __init__(self) -> None:
        self.session: RankerSession | None = None

    @property
    def version(self) -> str | None:
        session = self.session
        return None if session is None else session.version

    def swap(self, session: RankerSession | None) -> None:
        self.session = session

    def __reduce__(self) -> tuple[type[LiveRanker], tuple[()]]:
        # A shard's snapshot pickles its model and so this reference: it restores empty (a
        # version is loaded from the registry, never from a snapshot), and the worker that
        # adopts the shard points it at its own.
        return LiveRanker, ()


class RankerScorer:
    """A shard's :class:`~models.base.Scorer`: the live ranker on the shard's features."""

    def __init__(self, live: LiveRanker, features: OnlineFeatures) -> None:
        self.live = live
        self.features = features

    def score(self, user_id: str, items: Sequence[ItemInfo | str], context: Context
              ) -> np.ndarray:
        item_ids = [item.item_id if isinstance(item, ItemInfo) else item for item in items]
        session = self.live.session  # read once: the whole request ranks on this version
        if session is None:
            return self.features.model.context_scorer.score(user_id, item_ids, context)
        return session.predict(self.features.inputs(user_id, item_ids, context))
