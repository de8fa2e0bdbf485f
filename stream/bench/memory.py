"""`recstream bench memory`: Redis bytes per user and per item, at a given number of users.

A synthetic shop is replayed through a real worker (state and learning on) until ``users``
distinct users have clicked or bought (its customer base is twice that: in a shop many
registered users are idle, and their profiles are counted in the growth figure);
then Redis' own ``MEMORY USAGE`` is summed over each sampled user's keys (summary hash, recent
items, purchased set, profile, embedding) and each sampled item's keys (counters, catalogue
entry, embedding) plus its share of the trending sorted sets, and the server's used memory is
read before and after.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterable
from typing import Any

from stream.bench.namespace import clean_up
from stream.contracts.schemas import ClickEvent, Event, PurchaseEvent
from stream.data.sources import open_source
from stream.ops.fleet import WorkerProcess, wait_for
from stream.settings import Settings
from stream.store.keys import Keys
from stream.store.reads import StateReader
from stream.transport.producer import EventProducer
from stream.transport.topics import ensure_topics


def run_memory_bench(base: Settings, users: int = 100_000, items: int = 5_000,
                     events: int | None = None, sample: int = 2_000) -> dict[str, Any]:
    settings = base.namespaced(f"mem-{uuid.uuid4().hex[:6]}")
    ensure_topics(settings)
    reader = StateReader(settings.redis)
    keys = Keys(settings.redis.key_prefix)
    stream = _until_active(open_source("synthetic", None, seed=3, users=2 * users, items=items,
                                       days=60, events=events or 20 * users), users)
    used_before = reader.used_memory()
    worker = WorkerProcess(settings, settings.stack.state_dir / "bench-memory-worker.log")
    try:
        wait_for(lambda: "assigned" in worker.output(), [worker], "the worker joined", 120)
        rss_before = worker.rss_bytes()
        with EventProducer(settings) as producer:
            producer.send_many(stream)
        wait_for(lambda: reader.applied_total() >= len(stream), [worker],
                 "the stream drained", 1800, interval_s=0.5)
        time.sleep(2)  # the last batch's embeddings follow its state
        used_after = reader.used_memory()
        rss_after = worker.rss_bytes()
        user_ids = [k.split(":", 2)[2] for k in reader.scan(keys.recent("*"))]
        item_ids = [k.split(":", 2)[2] for k in reader.scan(keys.item("*"))]
        rng = random.Random(0)
        per_user = reader.mean_bytes([
            [keys.user(u), keys.recent(u), keys.purchased(u), keys.profile(u),
             keys.user_embedding(u)] for u in rng.sample(user_ids, min(sample, len(user_ids)))])
        per_item = reader.mean_bytes([
            [keys.item(i), keys.item_meta(i), keys.item_embedding(i)]
            for i in rng.sample(item_ids, min(sample, len(item_ids)))])
        # The trending sorted sets are shared by all items: their share per item.
        trending_sets = reader.scan(keys.trending("*"))
        trending_per_item = (reader.mean_bytes([trending_sets]) / max(len(item_ids), 1)
                             if trending_sets else 0.0)
    finally:
        worker.stop()
        clean_up(settings)
    return {
        "benchmark": "memory",
        "events": len(stream),
        "users_with_state": len(user_ids),
        "items_with_state": len(item_ids),
        "bytes_per_user": round(per_user, 1),
        "bytes_per_item": round(per_item + trending_per_item, 1),
        "trending_bytes_per_item": round(trending_per_item, 1),
        "trending_sets": len(trending_sets),
        "redis_used_memory_growth_bytes": used_after - used_before,
        "growth_per_user_bytes": round((used_after - used_before) / max(len(user_ids), 1), 1),
        # The worker's resident memory (all its user and item shards, caches and the item
        # table), its growth over the run divided by the users and, separately, the items:
        # each ratio charges all the growth to one kind, so both are upper bounds.
        "worker_rss_before_bytes": rss_before,
        "worker_rss_after_bytes": rss_after,
        "worker_rss_per_100k_users_bytes": round(
            (rss_after - rss_before) / max(len(user_ids), 1) * 100_000),
        "worker_rss_per_100k_items_bytes": round(
            (rss_after - rss_before) / max(len(item_ids), 1) * 100_000),
    }


def _until_active(source: Iterable[Event], users: int) -> list[Event]:
    """The source's events up to the one that brings the ``users``-th distinct active user."""
    stream: list[Event] = []
    active: set[str] = set()
    for event in source:
        stream.append(event)
        if isinstance(event, (ClickEvent, PurchaseEvent)):
            active.add(event.user_id)
            if len(active) >= users:
                return stream
    raise ValueError(f"the synthetic shop reached only {len(active):,} active users")


def format_report(report: dict[str, Any]) -> str:
    return (f"memory at {report['users_with_state']:,} users and {report['items_with_state']:,} "
            f"items ({report['events']:,} events): {report['bytes_per_user']:,.0f} bytes per "
            f"user, {report['bytes_per_item']:,.0f} bytes per item (MEMORY USAGE of their keys; "
            f"{report['trending_bytes_per_item']:,.0f} of it the item's share of "
            f"{report['trending_sets']} trending sets); "
            f"Redis grew {report['redis_used_memory_growth_bytes'] / 2**20:,.1f} MiB, "
            f"{report['growth_per_user_bytes']:,.0f} bytes per user all in; the worker's RSS "
            f"grew {(report['worker_rss_after_bytes'] - report['worker_rss_before_bytes']) / 2**20:,.0f}"
            f" MiB: {report['worker_rss_per_100k_users_bytes'] / 2**20:,.0f} MiB per 100k "
            f"users, {report['worker_rss_per_100k_items_bytes'] / 2**20:,.0f} MiB per 100k items "
            f"(each charged all of it)")
