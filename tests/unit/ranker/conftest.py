"""Small ranker rows and graphs the ranker tests share."""

from __future__ import annotations

import numpy as np
import pytest

from models.ranker.features import BUCKETS, DENSE, FIELDS
from models.ranker.table import Examples


def synthetic_rows(requests: int = 400, per_request: int = 20, seed: int = 0) -> Examples:
    """Rows whose label follows the recency signal (as on real shops) and not the River column,
    which is noise: a ranker that learns anything beats the River scoring on them."""
    rng = np.random.default_rng(seed)
    n = requests * per_request
    # A small shop: 30 users, 100 items, a few values of every other field.
    ids = rng.integers(1, 30, size=(n, len(FIELDS))) + np.arange(len(FIELDS)) * BUCKETS
    ids[:, FIELDS.index("item")] += rng.integers(0, 70, size=n)
    dense = rng.random((n, len(DENSE)), dtype=np.float32)
    label = (rng.random(n) < 0.05 + 0.6 * dense[:, DENSE.index("recency")] ** 4).astype(np.int8)
    return Examples(ids=ids.astype(np.int64), dense=dense, label=label,
                    request=np.repeat(np.arange(requests, dtype=np.int32), per_request),
                    request_ts=np.arange(requests, dtype=np.float64) * 60.0)


@pytest.fixture(scope="session")
def rows() -> Examples:
    return synthetic_rows()
