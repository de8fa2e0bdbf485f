"""`recstream stats`: what the fleet has done, from Redis: one place for an operator to look.

Applied events per kind, dead letters in all and by kind of reason, re-keyed events, and per
shard what its learner reports (interactions learned, users and items held, item steps applied
and rejected). Each figure is written by the worker that did the work, so this works for any
number of workers, running or gone.
"""

from __future__ import annotations

from typing import Any

from stream.store.reads import StateReader

APPLIED_KINDS = ("clicks", "purchases", "weather", "items", "users", "impressions")


def fleet_stats(reader: StateReader, partitions: int) -> dict[str, Any]:
    stats = reader.stats()
    shards = []
    for shard in range(partitions):
        user, items = reader.learning(shard), reader.item_learning(shard)
        shards.append({"shard": shard, "learned": int(user.get("learned", 0)),
                       "users": int(user.get("users", 0)), "items": int(items.get("items", 0)),
                       "item_steps_applied": int(items.get("applied", 0)),
                       "item_steps_rejected": int(items.get("rejected", 0))})
    return {
        "applied": {kind: stats.get(kind, 0) for kind in APPLIED_KINDS},
        "dead_letters": stats.get("dead_letters", 0),
        "dead_letter_reasons": dict(sorted(reader.dead_letter_reasons().items())),
        "rekeyed": stats.get("rekeyed", 0),
        "learned": sum(shard["learned"] for shard in shards),
        "shards": shards,
    }


def format_stats(report: dict[str, Any]) -> str:
    applied = ", ".join(f"{kind} {n:,}" for kind, n in report["applied"].items())
    reasons = ", ".join(f"{kind} {n:,}" for kind, n in report["dead_letter_reasons"].items())
    lines = [f"applied: {applied}",
             f"dead letters: {report['dead_letters']:,}" + (f" ({reasons})" if reasons else ""),
             f"re-keyed: {report['rekeyed']:,}",
             f"learned: {report['learned']:,}",
             f"{'shard':>5} {'learned':>10} {'users':>8} {'items':>8} {'steps':>10} {'rejected':>9}"]
    lines += [f"{s['shard']:>5} {s['learned']:>10,} {s['users']:>8,} {s['items']:>8,} "
              f"{s['item_steps_applied']:>10,} {s['item_steps_rejected']:>9,}"
              for s in report["shards"]]
    return "\n".join(lines)
