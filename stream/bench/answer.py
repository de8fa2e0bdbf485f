"""`recstream bench serve --in-process`: what answering one request costs a worker's CPU.

The round trip that `recstream bench serve` measures is Kafka's, the consume loop's and the
worker's work together; this is the worker's work alone. A user shard learns a replay of the
synthetic shop in this process (the worker's model, learning its item halves and trending
itself, as its in-process twin in `recstream evaluate`), then answers requests for the replay's
users one at a time through the serving path's own functions (:func:`stream.serving.answer.rank`
with ``candidates`` candidates, then :func:`~stream.serving.answer.finish`: the rules and the
reply), timing each. It also times the re-ranking scorer alone on each request's ``candidates``
candidates (the generator's, asked again outside the timing).

A first tenth of the requests warms the caches (a worker answers the same users and items over
and over) and is not counted. Times are the thread's CPU time, not the wall clock's: on a shared
machine a process waiting for a core is not charged for the wait.

Then the shard's snapshot, pickled in steps between which a worker's event loop answers
requests: how long it takes in all and its longest step (wall clock), ``SNAPSHOT_ROUNDS`` times.
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

from models.base import Interaction, ItemInfo
from models.evaluation import PrequentialEvaluator
from stream.bench.load import quantile
from stream.contracts.serving import RecommendationRequest
from stream.data.sources import open_source
from stream.learning.interactions import InteractionBuilder
from stream.learning.snapshots import SnapshotCodec
from stream.learning.user_shard import SYSTEM, UserShard, recstream_model
from stream.serving.answer import UserFacts, finish, rank
from stream.serving.rules import Facts, Rules
from stream.settings import LearningSettings

SNAPSHOT_ROUNDS = 3


def run_answer_bench(events: int = 40_000, requests: int = 1_000, candidates: int = 500,
                     seed: int = 0) -> dict[str, Any]:
    learning = LearningSettings()
    model = recstream_model(0, learning, distributed=False)
    shard = UserShard(0, model, PrequentialEvaluator(
        {SYSTEM: model}, k=20, sample_every=learning.eval_sample_every))
    builder = InteractionBuilder()
    purchased: dict[str, set[str]] = {}
    started = time.thread_time()
    for n, event in enumerate(open_source("synthetic", seed=seed)):
        if n == events:
            break
        fed = builder.feed(event)
        if isinstance(fed, ItemInfo):
            model.observe_item(fed)
        elif isinstance(fed, Interaction):
            shard.feed(fed)
            if fed.kind == "purchase":
                purchased.setdefault(fed.user_id, set()).add(fed.item_id)
    shard.close_basket()
    learned_s = time.thread_time() - started

    rules = Rules()
    catalogue = Facts(out_of_stock={i for i, info in builder.items.items() if not info.in_stock},
                      categories={i: info.category for i, info in builder.items.items()
                                  if info.category is not None})
    users = random.Random(seed).choices(list(shard.seen), k=requests)
    answer_s: list[float] = []
    score_s: list[float] = []
    for n, user in enumerate(users):
        request = RecommendationRequest(request_id=f"r{n}", user_id=user, reply_to="bench")
        facts = UserFacts(purchased=purchased.get(user, set()))
        began = time.thread_time()
        ranked = rank(request, shard, facts, {}, builder, rules, time.time(), candidates)
        reply = finish(ranked, Facts(facts.purchased, catalogue.out_of_stock,
                                     catalogue.categories), rules)
        answered = time.thread_time()
        if ranked.context is None or reply.error is not None:
            raise RuntimeError(f"the request for {user} failed: {reply.error}")
        generated = model.recommender_.blend(user, candidates, ranked.context,
                                             facts.purchased)
        scoring = time.thread_time()
        model.scorer_.score(user, generated.items, ranked.context)
        if n >= requests // 10:
            answer_s.append(answered - began)
            score_s.append(time.thread_time() - scoring)
    return {"benchmark": "serve-in-process", "events": events,
            "learned_cpu_s": round(learned_s, 1),
            "requests": len(answer_s), "candidates": candidates,
            "answer_us": _quantiles(answer_s), "score_us": _quantiles(score_s),
            "snapshot": _snapshot_pauses(shard)}


def _snapshot_pauses(shard: UserShard) -> dict[str, Any]:
    """How long the shard's snapshot takes in all, and how long its longest step holds the
    event loop: the worker's checkpoint lets the loop run between the codec's steps (wall
    clock: what a request waiting meanwhile waits)."""
    codec = SnapshotCodec(b"bench-" * 6)
    total: list[float] = []
    held: list[float] = []
    size = steps = 0
    for _ in range(SNAPSHOT_ROUNDS):
        began = last = time.perf_counter()
        longest = 0.0
        steps = 0
        for blob in codec.steps(shard, "user:0"):
            now = time.perf_counter()
            longest, last, steps = max(longest, now - last), now, steps + 1
            size = len(blob or b"")
        total.append(round(1000 * (last - began), 1))
        held.append(round(1000 * longest, 1))
    return {"bytes": size, "steps": steps, "total_ms": total, "held_ms": held,
            "total_median_ms": statistics.median(total),
            "held_median_ms": statistics.median(held)}


def _quantiles(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {"p50": round(1e6 * quantile(ordered, 0.50), 1),
            "p99": round(1e6 * quantile(ordered, 0.99), 1),
            "mean": round(1e6 * sum(ordered) / len(ordered), 1)}


def format_report(report: dict[str, Any]) -> str:
    lines = [f"serve in process: {report['candidates']} candidates per request, "
             f"{report['requests']:,} requests, model learned from {report['events']:,} "
             f"synthetic events",
             f"{'':<26}{'p50 us':>10}{'p99 us':>10}{'mean us':>10}"]
    for name, key in (("answer (rank + rules)", "answer_us"), ("scoring alone (again)", "score_us")):
        q = report[key]
        lines.append(f"{name:<26}{q['p50']:>10.0f}{q['p99']:>10.0f}{q['mean']:>10.0f}")
    snapshot = report["snapshot"]
    lines.append(f"the shard's snapshot ({snapshot['bytes'] / 1e6:.1f} MB) took "
                 f"{snapshot['total_median_ms']:.1f} ms in {snapshot['steps']} steps, the longest "
                 f"holding the event loop {snapshot['held_median_ms']:.1f} ms (medians of "
                 f"{len(snapshot['held_ms'])})")
    return "\n".join(lines)
