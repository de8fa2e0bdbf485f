"""The ranker in a worker: artefacts checked before they serve, swapped whole, never pickled."""

from __future__ import annotations

import hashlib
import io
import pickle
import warnings

import numpy as np
import pytest

from models.base import Context, Interaction
from models.ranker.memory import RankerMemory
from models.ranker.online import OnlineFeatures
from models.ranker.serving import ArtefactRefused, LiveRanker, RankerScorer, RankerSession
from models.reranked import ContextReranked

torch = pytest.importorskip("torch", reason="graphs are made with the train extra")

from models.ranker.net import DCNv2  # noqa: E402
from models.ranker.train import export_onnx  # noqa: E402


@pytest.fixture(scope="module")
def onnx() -> bytes:
    torch.manual_seed(0)
    return export_onnx(DCNv2().eval())


def test_an_artefact_whose_checksum_is_not_the_registered_one_is_refused(onnx):
    corrupt = onnx[:-10] + bytes(10)
    with pytest.raises(ArtefactRefused, match="sha256"):
        RankerSession("r2", corrupt, hashlib.sha256(onnx).hexdigest())


def test_bytes_that_are_no_graph_are_refused(onnx):
    garbage = b"not a graph"
    with pytest.raises(ArtefactRefused, match="not a readable ONNX graph"):
        RankerSession("r2", garbage, hashlib.sha256(garbage).hexdigest())


def test_a_graph_that_takes_other_inputs_is_refused():
    class Narrow(torch.nn.Module):
        def forward(self, ids, dense):
            return dense.sum(dim=1) + ids.sum(dim=1).float()

    out = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation, as in train.py
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(Narrow(), (torch.zeros((2, 3), dtype=torch.int64),
                                     torch.zeros((2, 2))),
                          out, input_names=["ids", "dense"], output_names=["p"],
                          dynamic_axes={"ids": {0: "n"}, "dense": {0: "n"}}, dynamo=False)
    with pytest.raises(ArtefactRefused, match="do not match"):
        RankerSession("r9", out.getvalue())


def test_a_shard_ranks_on_whichever_version_is_live_and_falls_back_to_river(onnx):
    model, memory = ContextReranked(), RankerMemory()
    for t in range(5):
        line = Interaction("ann", "tea", ts=float(t))
        model.learn_one(line)
        memory.learn_one(line)
    live = LiveRanker()
    scorer = RankerScorer(live, OnlineFeatures(model, memory))
    context = Context(ts=9.0)
    river = model.context_scorer.score("ann", ["tea", "jam"], context)
    np.testing.assert_array_equal(scorer.score("ann", ["tea", "jam"], context), river)
    live.swap(RankerSession("r1", onnx))
    assert live.version == "r1"
    ranked = scorer.score("ann", ["tea", "jam"], context)
    assert ranked.shape == (2,) and not np.array_equal(ranked, river)


def test_a_snapshot_of_a_shard_keeps_no_session(onnx):
    live = LiveRanker()
    live.swap(RankerSession("r1", onnx))
    model = ContextReranked()
    model.use_scorer(RankerScorer(live, OnlineFeatures(model, RankerMemory())))
    restored = pickle.loads(pickle.dumps(model))
    assert restored.scorer_.live.version is None  # the adopting worker points it at its own
