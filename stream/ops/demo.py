"""`recstream demo`: the main job on one machine, end to end.

Starts the local stack, a small fleet of workers, replays a stream (a real data set or the
synthetic shop) through the producer SDK and waits until every event is reflected in Redis and
learned. Then it asks the fleet for recommendations over Kafka, as a shop would (a known user, a
newcomer, a newcomer where it rains, if it rains anywhere), prints each list beside what the
user did, and ends with one table: the fleet's prequential quality against the baselines, run
in this process over the same events. Each run has topics, keys and a state folder of its own
(:meth:`Settings.namespaced`), so its models start empty whatever ran before. The stack keeps
running afterwards and the run's state stays in it, so `recstream inspect` (with the run's key
prefix, which the summary prints) can look around.
"""

from __future__ import annotations

import json
import time
import uuid
from itertools import islice
from pathlib import Path
from typing import Any

from models.base import Interaction
from models.evaluation import PrequentialEvaluator
from models.metrics import RankingMetrics
from stream.data.replay import replay, source_events
from stream.evaluate.run import baselines, interactions
from stream.learning.user_shard import SYSTEM
from stream.ops.fleet import WorkerProcess, wait_for
from stream.ops.inspect import inspect_user
from stream.ops.localstack import LocalStack
from stream.settings import Settings
from stream.store.reads import StateReader
from stream.transport.client import RecommendationClient
from stream.transport.topics import ensure_topics

K = 10
# Baskets scored: every 10th, in the workers (each its own) and in the baselines. Scoring one
# costs ~4 ms; scoring all of Online Retail's would triple the demo's time.
SAMPLE_EVERY = 10
IN_THE_RAIN = "a newcomer in the rain"


def run_demo(settings: Settings, *, source: str, path: Path | None, weather: Path | None,
             workers: int = 2, limit: int | None = None, timeout_s: float = 900) -> dict[str, Any]:
    LocalStack(settings).up()
    # Topics, keys and a state folder of this run's own: models restored from an earlier run
    # (another source, or this one before) would be no peers of the baselines, and a clock
    # learned on the synthetic shop's 2024 expired every 2011 customer of Online Retail as it
    # came (their lists were the synthetic shop's trending).
    settings = settings.namespaced(f"demo-{uuid.uuid4().hex[:6]}").replace(
        eval_sample_every=SAMPLE_EVERY)
    ensure_topics(settings)  # before the replay's producer, or a broker makes them its own way
    reader = StateReader(settings.redis)
    logs = settings.stack.state_dir.resolve() / "logs"
    fleet = [WorkerProcess(settings, logs / f"worker-{n}.log") for n in range(workers)]
    try:
        started = time.perf_counter()
        sent = replay(settings, source=source, path=path, weather=weather, limit=limit)
        expected = sent["sent"]
        wait_for(lambda: reader.applied_total() >= expected, fleet,
                 f"all {sent['sent']:,} events applied", timeout_s)
        elapsed = time.perf_counter() - started
        # The baselines learn the same events here while the workers finish learning them.
        stream = interactions(list(islice(source_events(source, path, weather), limit)),
                              settings.learning.default_location)
        evaluator = PrequentialEvaluator(baselines(), k=20,
                                         exclude_purchased=settings.serving.exclude_purchased,
                                         sample_every=SAMPLE_EVERY).run(stream)
        n_interactions = sum(isinstance(x, Interaction) for x in stream)
        wait_for(lambda: _learned(reader, settings) >= n_interactions, fleet,
                 f"all {n_interactions:,} interactions learned", timeout_s)
        examples = ask_examples(settings, reader, sent["most_active_user_id"])
    finally:
        for worker in fleet:
            worker.stop()
    example = sent["most_active_user_id"]
    return {
        "replayed": sent,
        "workers": workers,
        "seconds_until_all_applied": round(elapsed, 2),
        "events_per_s_end_to_end": round(sent["sent"] / elapsed, 1),
        "state_totals": reader.stats(),
        "example_user": inspect_user(reader, example) if example else None,
        "recommendations": examples,
        "quality": {SYSTEM: _figures(fleet_metrics(reader, settings.kafka.partitions)),
                    **{name: _figures(m) for name, m in evaluator.metrics.items()}},
        "worker_logs": str(logs),
        "key_prefix": settings.redis.key_prefix,
    }


def ask_examples(settings: Settings, reader: StateReader, known: str | None
                 ) -> list[dict[str, Any]]:
    """Ask the fleet, over Kafka, for a known user, a newcomer and a newcomer in the rain."""
    tag = uuid.uuid4().hex[:6]
    asks: list[tuple[str, str, str | None]] = []
    if known:
        asks.append(("the most active user", known, None))
    # A newcomer where the most active user is: the shop's main market.
    where = reader.user(known)["location"] if known else settings.learning.default_location
    asks.append(("a newcomer", f"newcomer-{tag}", where))
    rainy = next((location for location, report in reader.latest_weather().items()
                  if report.get("condition") in ("rain", "storm")), None)
    if rainy is not None:
        asks.append((f"{IN_THE_RAIN} at {rainy}", f"rain-{tag}", rainy))
    examples = []
    with RecommendationClient(settings, timeout_s=10) as client:
        for who, user_id, location in asks:
            reply = client.request(user_id, K, location=location)
            examples.append({"who": who, "user_id": user_id, "location": location,
                             "recent_items": reader.user(user_id)["recent"][:K],
                             "reply": json.loads(reply.to_json())})
    return examples


def fleet_metrics(reader: StateReader, partitions: int) -> dict[str, float]:
    """The workers' prequential sums: every shard's, added."""
    total = {"k": 20.0, "n": 0.0, "hits": 0.0, "rr": 0.0, "ndcg": 0.0}
    for shard in range(partitions):
        sums = reader.learning(shard).get("metrics")
        for name, value in (json.loads(sums) if sums else {}).items():
            if name != "k":
                total[name] += float(value)
    return total


def _figures(metrics: RankingMetrics | dict[str, float]) -> dict[str, float]:
    if isinstance(metrics, dict):
        metrics = RankingMetrics.from_sums(metrics)
    got = metrics.get()
    return {"hr@20": got["hr@20"], "mrr@20": got["mrr@20"], "n": got["n"]}


def _learned(reader: StateReader, settings: Settings) -> int:
    return reader.learned(range(settings.kafka.partitions))


def format_summary(summary: dict[str, Any]) -> str:
    replayed, totals = summary["replayed"], summary["state_totals"]
    lines = [
        f"replayed {replayed['sent']:,} events from {replayed['described']}",
        "  by kind: " + ", ".join(f"{k} {v:,}" for k, v in replayed["by_kind"].items()),
        f"  producer: {replayed['events_per_s']:,.0f} events/s",
        f"all applied by {summary['workers']} workers in {summary['seconds_until_all_applied']} s "
        f"({summary['events_per_s_end_to_end']:,.0f} events/s end to end)",
        "state totals in Redis: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(totals.items())),
        "",
        "recommendations, asked over Kafka (reco.requests) as a shop would:",
    ]
    for example in summary["recommendations"]:
        reply = example["reply"]
        lines.append(f"  {example['who']} ({example['user_id']}"
                     + (f", at {example['location']}" if example["location"] else "") + ")")
        if example["recent_items"]:
            lines.append(f"    did:      {', '.join(example['recent_items'])}")
        if reply["error"] is not None:
            lines.append(f"    error: {reply['error']['code']}: {reply['error']['message']}")
            continue
        lines.append("    got:      " + ", ".join(f"{i['item_id']} ({i['source']})"
                                                  for i in reply["items"]))
        lines.append(f"    answered in {reply['timings_ms'].get('total', 0):.1f} ms by "
                     f"{reply['model_versions'].get('online', '?')}"
                     + (f"; degraded: {', '.join(reply['degraded'])}" if reply["degraded"]
                        else ""))
    if not any(e["who"].startswith(IN_THE_RAIN) for e in summary["recommendations"]):
        lines.append(f"  {IN_THE_RAIN}: none to ask for, no location's latest weather report "
                     "is rain or a storm (the server takes the weather of its shard's moment)")
    lines += ["", f"prequential quality (every {SAMPLE_EVERY}th basket scored before it is "
                  "learned), this run's events:",
              f"  {'system':<14}{'HR@20':>9}{'MRR@20':>9}{'baskets':>9}"]
    for name, figures in summary["quality"].items():
        lines.append(f"  {name:<14}{figures['hr@20']:>9.4f}{figures['mrr@20']:>9.4f}"
                     f"{figures['n']:>9,}")
    lines.append(f"this run's state stays in Redis under the key prefix {summary['key_prefix']}")
    user = summary["example_user"]
    if user:
        lines.append(f"  try: RECSTREAM_KEY_PREFIX={summary['key_prefix']} "
                     f".venv/bin/recstream inspect user {user['user_id']}")
    lines.append(f"worker logs: {summary['worker_logs']}; the stack keeps running "
                 "(.venv/bin/recstream stack down stops it)")
    return "\n".join(lines)
