"""Training, export and parity (PyTorch: the ``train`` extra, which CI installs)."""

from __future__ import annotations

import numpy as np
import pytest

from models.ranker.features import Inputs
from models.ranker.quality import quality
from models.ranker.serving import RankerSession
from models.ranker.table import Examples

torch = pytest.importorskip("torch", reason="the train extra: pip install 'recstream[train]'")

from models.ranker.train import TrainConfig, export_onnx, parity, predict, train  # noqa: E402


@pytest.fixture(scope="module")
def trained(rows: Examples):
    early, late = rows.split(rows.quantile_ts(0.8))
    net = train(early, TrainConfig(epochs=3, batch_size=128))
    return net, late


def test_the_ranker_learns_what_the_river_column_does_not_know(trained):
    net, late = trained
    learned = quality(late.label, predict(net, late), late.request)
    river = quality(late.label, late.dense[:, 0], late.request)
    assert learned["auc"] > river["auc"] + 0.1
    assert learned["ndcg@10"] > river["ndcg@10"]


def test_onnx_scores_agree_with_pytorch_and_any_batch_size_is_taken(trained):
    net, late = trained
    onnx = export_onnx(net)
    checked = parity(net, onnx, late)
    assert checked["passed"], checked
    assert checked["max_abs_diff"] <= 1e-5 and checked["top_k_identical"] == checked["requests"]
    session = RankerSession("r1", onnx)
    for n in (1, 7, 500):
        got = session.predict(Inputs(late.ids[:n], late.dense[:n]))
        assert got.shape == (n,)


def test_parity_fails_for_a_graph_that_is_not_the_network(trained, rows):
    net, late = trained
    other = train(rows, TrainConfig(epochs=1, batch_size=512, seed=5))
    checked = parity(net, export_onnx(other), late)
    assert not checked["passed"] and checked["max_abs_diff"] > 1e-5


def test_training_is_reproducible_with_a_seed(rows):
    small = rows.split(rows.quantile_ts(0.3))[0]
    first, second = (predict(train(small, TrainConfig(epochs=1)), small) for _ in range(2))
    np.testing.assert_array_equal(first, second)
