"""The deep ranker: rows, network, export and serving (docs/ranker.md).

* :mod:`~models.ranker.features`: one row per candidate, hashed ids and dense signals, the same
  function for training and serving; :mod:`~models.ranker.memory` and
  :mod:`~models.ranker.online` supply the signals from a shard's live models.
* :mod:`~models.ranker.examples` and :mod:`~models.ranker.table`: labelled rows from a replay,
  saved as ``.npz``, split by time.
* :mod:`~models.ranker.net` and :mod:`~models.ranker.train`: DCN-v2, training, ONNX export and the
  parity check; the only modules that import torch (extra ``train``).
* :mod:`~models.ranker.quality` and :mod:`~models.ranker.gate`: AUC, log loss, NDCG@10, and the
  rule a version must pass to go live.
* :mod:`~models.ranker.serving`: the onnxruntime session, the live reference and the scorer a
  shard re-ranks with.

The serving and data names are importable from here, each from its module on first use (as
:mod:`models` does); the trainer's are not, so nothing here ever loads torch.
"""

from __future__ import annotations

import importlib

__all__ = ["ArtefactRefused", "Examples", "Inputs", "LiveRanker", "OnlineFeatures", "RankerMemory",
           "RankerScorer", "RankerSession", "Signals"]

_HOMES = {"ArtefactRefused": "serving", "Examples": "table", "Inputs": "features",
          "LiveRanker": "serving", "OnlineFeatures": "online", "RankerMemory": "memory",
          "RankerScorer": "serving", "RankerSession": "serving", "Signals": "features"}


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module 'models.ranker' has no attribute {name!r}")
    return getattr(importlib.import_module(f"models.ranker.{_HOMES[name]}"), name)
