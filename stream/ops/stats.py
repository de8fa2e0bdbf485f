"""`recstream stats`: what the fleet has done, from Redis: one place for an operator to look.

Applied events per kind, dead letters in all and by kind of reason, re-keyed and re-dated
events, requests answered and error replies, and per shard what its learner reports
(interactions learned, the latest event time learned and how far that is behind now, users and
items held, item steps applied and rejected) with the records of its partitions not read yet
(the broker's ends against the offsets it reported). Each figure is written by the worker
that did the work, so this works for any number of workers, running or gone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from stream.settings import Settings
from stream.store.reads import StateReader
from stream.transport.topic_reader import topic_ends

APPLIED_KINDS = ("clicks", "purchases", "weather", "items", "users", "impressions")


def fleet_report(settings: Settings) -> dict[str, Any]:
    """:func:`fleet_stats` of the fleet of ``settings``: Redis's figures, the broker's ends."""
    user_keyed = settings.topics.user_keyed
    return fleet_stats(StateReader(settings.redis), settings.kafka.partitions,
                       ends=topic_ends(settings, user_keyed), user_keyed=user_keyed)


def fleet_stats(reader: StateReader, partitions: int, now: float | None = None,
                ends: Mapping[tuple[str, int], int] | None = None,
                user_keyed: Sequence[str] = ()) -> dict[str, Any]:
    """The report; ``now`` (default: the wall clock) dates how far each shard's learning
    trails: live, ``behind_s`` is that lag; in a replay, how far the replayed moment is from
    now. ``ends`` (each partition's high watermark, None when the broker did not say) give
    each shard's records of the ``user_keyed`` topics not read yet, replay or live alike."""
    now = time.time() if now is None else now
    stats = reader.stats()
    shards = []
    for shard in range(partitions):
        user, items = reader.learning(shard), reader.item_learning(shard)
        learned_to = float(user["learned_to"]) if "learned_to" in user else None
        offsets = json.loads(user.get("offsets") or "{}")
        unread = None if ends is None else sum(
            max(ends.get((topic, shard), 0) - offsets.get(topic, 0), 0) for topic in user_keyed)
        shards.append({"shard": shard, "learned": int(user.get("learned", 0)),
                       "learned_to": _iso(learned_to),
                       "behind_s": None if learned_to is None else round(now - learned_to, 1),
                       "unread": unread,
                       "users": int(user.get("users", 0)), "items": int(items.get("items", 0)),
                       "item_steps_applied": int(items.get("applied", 0)),
                       "item_steps_rejected": int(items.get("rejected", 0))})
    return {
        "applied": {kind: stats.get(kind, 0) for kind in APPLIED_KINDS},
        "dead_letters": stats.get("dead_letters", 0),
        "dead_letter_reasons": dict(sorted(reader.dead_letter_reasons().items())),
        "rekeyed": stats.get("rekeyed", 0),
        "redated": stats.get("redated", 0),
        "requests": {"answered": stats.get("requests", 0),
                     "errors": stats.get("request_errors", 0)},
        "learned": sum(shard["learned"] for shard in shards),
        "shards": shards,
    }


def format_stats(report: dict[str, Any]) -> str:
    applied = ", ".join(f"{kind} {n:,}" for kind, n in report["applied"].items())
    reasons = ", ".join(f"{kind} {n:,}" for kind, n in report["dead_letter_reasons"].items())
    lines = [f"applied: {applied}",
             f"dead letters: {report['dead_letters']:,}" + (f" ({reasons})" if reasons else ""),
             f"re-keyed: {report['rekeyed']:,}",
             f"re-dated to the broker's time: {report['redated']:,} (events dated after it "
             "was appended: their producers' clocks run ahead)",
             f"requests: {report['requests']['answered']:,} answered, "
             f"{report['requests']['errors']:,} with an error reply",
             f"learned: {report['learned']:,}",
             f"{'shard':>5} {'learned':>10} {'unread':>8} {'users':>8} {'items':>8} {'steps':>10} "
             f"{'rejected':>9}  learned to (behind now)"]
    lines += [f"{s['shard']:>5} {s['learned']:>10,} "
              + (f"{s['unread']:>8,}" if s["unread"] is not None else f"{'?':>8}")
              + f" {s['users']:>8,} {s['items']:>8,} "
              f"{s['item_steps_applied']:>10,} {s['item_steps_rejected']:>9,}  "
              + (f"{s['learned_to']} ({_span(s['behind_s'])})" if s["learned_to"] else "-")
              for s in report["shards"]]
    if any(s["unread"] is None for s in report["shards"]):
        lines.append("(unread ?: Kafka did not say where the partitions end)")
    return "\n".join(lines)


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds")


def _span(seconds: float) -> str:
    """A lag as an operator reads it: seconds while live, days or years in a replay."""
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("h", 3600), ("min", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.1f} s"
