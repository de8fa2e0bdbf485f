"""`recstream bench ranker`: what scoring a request's candidates with the deep ranker costs in a
worker, on one core (p50/p99 over many requests; target p99 under 5 ms for 500 candidates).

The shard is the worker's model warmed on the first Online Retail events, so the features read
real River scores, vectors, popularity and recency. Three timings per request: the whole
:class:`~models.ranker.serving.RankerScorer` call (features, then onnxruntime), onnxruntime alone
on the same rows, and the River context model's scoring of the same candidates (what it replaces).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from models.base import Context, Interaction
from models.ranker.memory import RankerMemory
from models.ranker.online import OnlineFeatures
from models.ranker.serving import LiveRanker, RankerScorer, RankerSession
from stream.errors import UserFacingError
from stream.evaluate.run import interactions, load_events
from stream.learning.user_shard import recstream_model
from stream.ranker.commands import registry
from stream.settings import LearningSettings, Settings

WARM_EVENTS = 30_000


def run_ranker_bench(settings: Settings, version: str | None = None, candidates: int = 500,
                     requests: int = 2_000) -> dict[str, Any]:
    reg = registry(settings)
    version = version or reg.live()
    if version is None:
        raise UserFacingError("no ranker is live; name one with --version (`ranker list`)")
    entry = reg.get(version)
    live = LiveRanker()
    live.swap(RankerSession(version, reg.model_path(version).read_bytes(), entry.sha256))
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as a worker has
    model, memory = recstream_model(0, LearningSettings(), distributed=False), RankerMemory()
    events, location = load_events("online-retail", None, WARM_EVENTS)
    lines = [x for x in interactions(events, location) if isinstance(x, Interaction)]
    for line in lines:
        model.learn_one(line)
        memory.learn_one(line)
    features = OnlineFeatures(model, memory)
    scorer = RankerScorer(live, features)
    items = list(dict.fromkeys(line.item_id for line in reversed(lines)))[:candidates]
    if len(items) < candidates:
        raise UserFacingError(f"only {len(items)} items after {WARM_EVENTS} events")
    rng = random.Random(7)
    asks = [(line.user_id, Context(ts=line.ts, location=line.location,
                                   condition=line.condition, temp_c=line.temp_c))
            for line in rng.sample(lines, min(requests, len(lines)))]
    session = live.session
    assert session is not None
    rows = [features.inputs(user, items, context) for user, context in asks[:200]]
    return {"version": version, "candidates": candidates, "requests": len(asks), "cores": 1,
            "ranker_ms": _timed(lambda i: scorer.score(asks[i][0], items, asks[i][1]),
                                len(asks)),
            "onnx_only_ms": _timed(lambda i: session.predict(rows[i % len(rows)]), len(asks)),
            "river_ms": _timed(lambda i: model.context_scorer.score(asks[i][0], items,
                                                                    asks[i][1]), len(asks))}


def _timed(call: Callable[[int], object], n: int) -> dict[str, float]:
    for i in range(min(n, 50)):  # warm caches and onnxruntime's allocator
        call(i)
    spent = np.empty(n)
    for i in range(n):
        started = time.perf_counter()
        call(i)
        spent[i] = (time.perf_counter() - started) * 1000
    return {"p50": round(float(np.percentile(spent, 50)), 3),
            "p99": round(float(np.percentile(spent, 99)), 3),
            "mean": round(float(spent.mean()), 3)}


def format_report(report: dict[str, Any]) -> str:
    lines = [f"ranker {report['version']}: {report['candidates']} candidates a request, "
             f"{report['requests']:,} requests, one core",
             f"{'':<28}{'p50 ms':>9}{'p99 ms':>9}"]
    for key, name in (("ranker_ms", "features + onnxruntime"), ("onnx_only_ms", "onnxruntime alone"),
                      ("river_ms", "River context model")):
        lines.append(f"{name:<28}{report[key]['p50']:>9.3f}{report[key]['p99']:>9.3f}")
    return "\n".join(lines)
