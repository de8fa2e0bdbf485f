"""`recstream bench retrieval`: exact top-k search against approximate indexes, in latency and
in recall@k against the exact answer.

A worker retrieves a user's ``k`` best items by inner product with the user's vector (OnlineMF's
score) over every item vector it holds. Exact search is :func:`models.vectors.top_rows` over
``matrix @ query``, as :meth:`models.embeddings.OnlineMF.ranked` runs it. The indexes are
faiss's (the optional ``ann`` extra), each timed over a ladder of its search parameter:

* ``ivf-flat``: k-means cells; a query scans the ``nprobe`` cells whose centres score best. A
  changed vector is removed and added again, as a broadcast would require: timed per 1,000.
* ``hnsw``: a neighbour graph; a query keeps ``efSearch`` candidates on its walk. faiss cannot
  remove a vector from it: a changed vector means a rebuild.

Vector sets:

* ``trained``: OnlineMF with the worker's factors, learnt on the first ``train_events`` events
  of Online Retail: its item vectors at their real size, a sample of its users' as queries.
* ``random``: N(0, 1) items and queries at each size, as in the issue: the worst case for an
  index, with no structure to find.
* ``trained-like``: at sizes no data set here reaches, items and queries drawn from Gaussian
  mixtures fitted to the trained item and user vectors (:func:`fitted_mixture`), so that their
  shared offset, their few dominant directions and their clusters carry over.

Each query runs exact search and then every index setting, so load from other processes on the
machine falls on all alike; the report records the load average. Run it with
``OPENBLAS_NUM_THREADS=1``, as a worker answering one query at a time should run: on a busy
machine numpy's two-thread product waited for its second thread to get a core (exact search at
100k items took 5 to 9 ms so, between faiss searches, against 0.7 to 1 ms with one thread).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.base import Interaction
from models.embeddings import OnlineMF
from models.vectors import top_rows
from stream.evaluate.run import interactions, load_events
from stream.learning.user_shard import FACTORS

# An index is worth having when it answers this share of exact search's top k.
RECALL_TARGET = 0.95
# Vectors replaced at once in the update timing: about what a broadcast brings a worker.
UPDATED = 1_000
# Links a node has in the HNSW graph: faiss's usual choice for tens of dimensions.
HNSW_LINKS = 32
MISSING = "faiss is not installed: pip install 'recstream[ann]'"


def run(sizes: Sequence[int] = (10_000, 100_000, 1_000_000), dims: int = FACTORS,
        queries: int = 200, k: int = 200, seed: int = 0, out: Path | None = None,
        train_events: int = 200_000, data: Path | None = None) -> dict[str, Any]:
    """Measure every vector set, print the report, write it as JSON to ``out`` and return it.

    ``data``: the Online Retail file to train on (default: the one in shared/data).
    """
    rng = np.random.default_rng(seed)
    faiss = _faiss()
    load_before = os.getloadavg()
    items, users, trained_on = trained_vectors(train_events, dims, seed, data)
    sets = [measure(name, vectors, asked, k) for name, vectors, asked in _vector_sets(
        items, users, sizes, dims, queries, rng)]
    report = {
        "benchmark": "retrieval",
        "k": k, "dims": dims, "queries": queries, "seed": seed,
        "recall_target": RECALL_TARGET,
        "ann_library": f"faiss {faiss.__version__}" if faiss else None,
        "cpus": os.cpu_count(),
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "load_average_before": round(load_before[0], 2),
        "load_average_after": round(os.getloadavg()[0], 2),
        "trained_on": trained_on,
        "sets": sets,
    }
    print(format_report(report))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2))
    return report


def trained_vectors(events: int, dims: int, seed: int, data: Path | None = None
                    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The item and user vectors OnlineMF learns from the first ``events`` Online Retail events
    (catalogue lines included), and what it learnt them from."""
    loaded, location = load_events("online-retail", data, events, context=False)
    model = OnlineMF(n_factors=dims, seed=seed)
    users: set[str] = set()
    for x in interactions(loaded, location):
        if isinstance(x, Interaction):
            model.learn_one(x)
            users.add(x.user_id)
    user_vectors = [v for user in sorted(users) if (v := model.user_vector(user)) is not None]
    trained_on = {"dataset": "online-retail", "events": len(loaded),
                  "items": model.n_items, "users": len(user_vectors)}
    return np.array(model.item_matrix()), np.array(user_vectors), trained_on


def fitted_mixture(fit: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` vectors from a Gaussian mixture fitted to the rows of ``fit``.

    A kernel density estimate: one component per row, centred on it, each with the covariance
    of all rows scaled by Scott's factor squared. Draws then spread between neighbouring rows
    rather than repeat them, while the rows' offset, spectrum and clusters stay.

    >>> rng = np.random.default_rng(0)
    >>> fit = rng.normal(3.0, 1.0, (500, 4))
    >>> drawn = fitted_mixture(fit, 20_000, rng)
    >>> drawn.shape, drawn.dtype, bool(abs(drawn.mean() - 3.0) < 0.1)
    ((20000, 4), dtype('float32'), True)
    """
    rows, dims = fit.shape
    bandwidth = rows ** (-1 / (dims + 4))  # Scott's rule
    noise = rng.multivariate_normal(np.zeros(dims), bandwidth**2 * np.cov(fit, rowvar=False),
                                    size=n, method="eigh")
    return (fit[rng.integers(rows, size=n)] + noise).astype(np.float32)


def measure(name: str, items: np.ndarray, queries: np.ndarray, k: int) -> dict[str, Any]:
    """Exact search and every index setting on one vector set, query by query."""
    items = np.ascontiguousarray(items, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    k = min(k, len(items))
    indexes = _build_indexes(items, k)
    settings = [(index, params) for index in indexes for params in index.settings.values()]
    top_rows(items @ queries[0], k)  # warm up: a first search allocates
    for index, params in settings:
        index.faiss.search(queries[:1], k, params=params)
    exact_ms, found_ms = [], np.zeros((len(settings), len(queries)))
    recall = np.zeros_like(found_ms)
    for q, query in enumerate(queries):
        started = time.perf_counter()
        truth = top_rows(items @ query, k)
        exact_ms.append(1e3 * (time.perf_counter() - started))
        for s, (index, params) in enumerate(settings):
            started = time.perf_counter()
            found = index.faiss.search(query[None], k, params=params)[1][0]
            found_ms[s, q] = 1e3 * (time.perf_counter() - started)
            recall[s, q] = len(np.intersect1d(found, truth)) / k
    exact = {**_latency(exact_ms), "recall": 1.0}  # the reference, by definition
    figures, s = [], 0
    for index in indexes:
        rows = []
        for value in index.settings:
            rows.append({index.param: value, **_latency(found_ms[s]),
                         "recall": round(float(recall[s].mean()), 4)})
            s += 1
        figures.append({"index": index.name, **index.shape, "build_s": round(index.build_s, 2),
                        "update_ms_per_1k": index.update_ms_per_1k, "param": index.param,
                        "settings": rows})
    return {"vectors": name, "items": len(items), "queries": len(queries), "exact": exact,
            "indexes": figures, "best": _best(exact, figures)}


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"retrieval: top-{report['k']} by inner product, {report['dims']} dims, "
        f"{report['queries']} queries; {report['cpus']} CPUs (OPENBLAS_NUM_THREADS="
        f"{report['openblas_num_threads'] or 'unset'}), load average "
        f"{report['load_average_before']} before, {report['load_average_after']} after; "
        f"{report['ann_library'] or MISSING}",
        f"trained: OnlineMF on the first {report['trained_on']['events']:,} Online Retail events "
        f"({report['trained_on']['items']:,} items, {report['trained_on']['users']:,} users)",
        f"{'vectors':<13}{'items':>10}  {'search':<22}{'build s':>8}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'recall':>8}",
    ]
    for figures in report["sets"]:
        head = f"{figures['vectors']:<13}{figures['items']:>10,}  "
        exact = figures["exact"]
        lines.append(f"{head}{'exact':<22}{'':>8}{exact['p50_ms']:>9.3f}{exact['p99_ms']:>9.3f}"
                     f"{exact['recall']:>8.3f}")
        for index in figures["indexes"]:
            for setting in index["settings"]:
                label = f"{index['index']} {index['param']}={setting[index['param']]}"
                lines.append(f"{'':<25}{label:<22}{index['build_s']:>8.1f}"
                             f"{setting['p50_ms']:>9.3f}{setting['p99_ms']:>9.3f}"
                             f"{setting['recall']:>8.3f}")
            if index["update_ms_per_1k"] is not None:
                lines.append(f"{'':<25}{index['index']}: {UPDATED:,} changed vectors removed and "
                             f"added again in {index['update_ms_per_1k']} ms")
        best = figures["best"]
        lines.append(f"{'':<25}best at recall >= {report['recall_target']}: " + (
            f"{best['index']} {best['setting']}, {best['speedup_p50']}x exact's p50"
            if best else "none"))
    return "\n".join(lines)


def _vector_sets(items: np.ndarray, users: np.ndarray, sizes: Sequence[int], dims: int,
                 queries: int, rng: np.random.Generator
                 ) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(name, items, queries), made one set at a time: a million vectors are 128 MB each."""
    yield "trained", items, users[rng.choice(len(users), min(queries, len(users)), replace=False)]
    for size in sizes:
        yield ("random", rng.standard_normal((size, dims), dtype=np.float32),
               rng.standard_normal((queries, dims), dtype=np.float32))
        yield ("trained-like", fitted_mixture(items, size, rng),
               fitted_mixture(users, queries, rng))


@dataclass
class _Index:
    """A built faiss index, and the search parameters of each setting timed."""

    name: str
    faiss: Any
    shape: dict[str, int]  # what it was built with
    build_s: float
    update_ms_per_1k: float | None  # None: a changed vector means a rebuild
    param: str
    settings: dict[int, Any]  # value of ``param`` -> faiss SearchParameters


def _build_indexes(items: np.ndarray, k: int) -> list[_Index]:
    """The faiss indexes over ``items``, built and timed (none without faiss)."""
    faiss = _faiss()
    if faiss is None:
        return []
    n, dims = items.shape
    # faiss's guide: 4·sqrt(n) to 16·sqrt(n) cells; k-means wants 39 points a cell at least.
    cells = max(1, min(round(4 * np.sqrt(n)), n // 39))
    started = time.perf_counter()
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dims), dims, cells, faiss.METRIC_INNER_PRODUCT)
    # k-means on 64 points a cell: within faiss's advised 39 to 256, and on a busy 2-core
    # machine training on all of a million vectors took 80 to 220 s, on 256 a cell 40 s.
    ivf.train(items[np.random.default_rng(0).permutation(n)[:64 * cells]])
    ivf.add(items)
    ivf_s = time.perf_counter() - started
    changed = np.random.default_rng(1).permutation(n)[:UPDATED].astype(np.int64)
    started = time.perf_counter()
    ivf.remove_ids(changed)
    ivf.add_with_ids(items[changed], changed)  # the same vectors: the index stays as measured
    update_ms = 1e3 * (time.perf_counter() - started) * UPDATED / len(changed)

    started = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(dims, HNSW_LINKS, faiss.METRIC_INNER_PRODUCT)
    hnsw.add(items)
    hnsw_s = time.perf_counter() - started
    return [
        _Index("ivf-flat", ivf, {"cells": cells}, ivf_s, round(update_ms, 1), "nprobe",
               {p: faiss.SearchParametersIVF(nprobe=p)
                for p in (8, 16, 32, 64, 128, 256, 512) if p <= cells}),
        _Index("hnsw", hnsw, {"links": HNSW_LINKS}, hnsw_s, None, "efSearch",
               {ef: faiss.SearchParametersHNSW(efSearch=ef) for ef in (k, 2 * k, 4 * k)}),
    ]


def _latency(ms: Sequence[float] | np.ndarray) -> dict[str, float]:
    return {"p50_ms": round(float(np.percentile(ms, 50)), 4),
            "p99_ms": round(float(np.percentile(ms, 99)), 4)}


def _best(exact: dict[str, float], indexes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The setting with the lowest median latency among those that reach RECALL_TARGET."""
    reaching = [(index, setting) for index in indexes for setting in index["settings"]
                if setting["recall"] >= RECALL_TARGET]
    if not reaching:
        return None
    index, setting = min(reaching, key=lambda pair: pair[1]["p50_ms"])
    return {"index": index["index"], "setting": f"{index['param']}={setting[index['param']]}",
            "p50_ms": setting["p50_ms"], "recall": setting["recall"],
            "speedup_p50": round(exact["p50_ms"] / setting["p50_ms"], 1)}


def _faiss() -> Any:
    """The faiss module, or None where the ``ann`` extra is not installed."""
    try:
        import faiss
    except ImportError:
        return None
    return faiss
