"""The deep ranker: a DCN-v2 network over hashed ids and dense signals (PyTorch, extra ``train``).

DCN-v2 (Wang et al., 2021) crosses features explicitly, ``x_{l+1} = x_0 * (W x_l + b) + x_l``,
beside a plain MLP, and the two are read out together. It is the smallest model of its family
that learns the interactions a re-ranker lives on (this user with this item's price band, this
weather with this category) without hand-made crosses; the network is small (a 16-wide
embedding per field, two cross layers, a 128-64 MLP) because a worker scores 500 candidates on one
core inside a request's budget (p99 under 5 ms).

Only the trainer imports this module: the serving path reads the exported ONNX graph.
"""

from __future__ import annotations

import torch
from torch import nn

from models.ranker.features import BUCKETS, DENSE, FIELDS

__all__ = ["DCNv2"]


class DCNv2(nn.Module):
    """P(bought | user, item, context) from ``ids`` (int64, n x fields) and ``dense``."""

    def __init__(self, dim: int = 16, cross_layers: int = 2, hidden: tuple[int, ...] = (128, 64),
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.embedding = nn.Embedding(len(FIELDS) * BUCKETS, dim)
        nn.init.normal_(self.embedding.weight, std=0.01)
        width = len(FIELDS) * dim + len(DENSE)
        self.cross = nn.ModuleList(nn.Linear(width, width) for _ in range(cross_layers))
        layers: list[nn.Module] = []
        last = width
        for size in hidden:
            layers += [nn.Linear(last, size), nn.ReLU(), nn.Dropout(dropout)]
            last = size
        self.deep = nn.Sequential(*layers)
        self.out = nn.Linear(width + last, 1)

    def forward(self, ids: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
        x0 = torch.cat([self.embedding(ids).flatten(1), dense], dim=1)
        x = x0
        for layer in self.cross:
            x = x0 * layer(x) + x
        return torch.sigmoid(self.out(torch.cat([x, self.deep(x0)], dim=1))).squeeze(1)
