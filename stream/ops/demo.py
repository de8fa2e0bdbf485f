"""`recstream demo`: the main job on one machine, end to end.

Starts the local stack, a small fleet of workers, replays a stream (a real data set or the
synthetic shop) through the producer SDK, waits until every event is reflected in Redis and prints
what was ingested. The stack keeps running afterwards, so `recstream inspect` can look around.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from stream.data.replay import replay
from stream.ops.fleet import WorkerProcess, wait_for
from stream.ops.inspect import inspect_user
from stream.ops.localstack import LocalStack
from stream.settings import Settings
from stream.store.reads import StateReader


def run_demo(settings: Settings, *, source: str, path: Path | None, weather: Path | None,
             workers: int = 2, limit: int | None = None, timeout_s: float = 900) -> dict[str, Any]:
    LocalStack(settings).up()
    reader = StateReader(settings.redis)
    before = reader.applied_total()
    logs = settings.stack.state_dir.resolve() / "logs"
    fleet = [WorkerProcess(settings, logs / f"worker-{n}.log") for n in range(workers)]
    try:
        started = time.perf_counter()
        sent = replay(settings, source=source, path=path, weather=weather, limit=limit)
        expected = before + sent["sent"]
        wait_for(lambda: reader.applied_total() >= expected, fleet,
                 f"all {sent['sent']:,} events applied", timeout_s)
        elapsed = time.perf_counter() - started
    finally:
        for worker in fleet:
            worker.stop()
    stats = reader.stats()
    example = sent["most_active_user_id"]
    return {
        "replayed": sent,
        "workers": workers,
        "seconds_until_all_applied": round(elapsed, 2),
        "events_per_s_end_to_end": round(sent["sent"] / elapsed, 1),
        "state_totals": stats,
        "example_user": inspect_user(reader, example) if example else None,
        "worker_logs": str(logs),
    }


def format_summary(summary: dict[str, Any]) -> str:
    replayed, totals = summary["replayed"], summary["state_totals"]
    lines = [
        f"replayed {replayed['sent']:,} events from {replayed['described']}",
        "  by kind: " + ", ".join(f"{k} {v:,}" for k, v in replayed["by_kind"].items()),
        f"  producer: {replayed['events_per_s']:,.0f} events/s",
        f"all applied by {summary['workers']} workers in {summary['seconds_until_all_applied']} s "
        f"({summary['events_per_s_end_to_end']:,.0f} events/s end to end)",
        "state totals in Redis (this key prefix, all runs): "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(totals.items())),
    ]
    user = summary["example_user"]
    if user:
        lines += [
            f"most active user {user['user_id']}: {user['clicks']} clicks, {user['purchases']} "
            f"purchases, location {user['location']}, weather {user['weather']}",
            f"  recent items: {', '.join(user['recent_items'][:10])}",
            f"  try: .venv/bin/recstream inspect user {user['user_id']}",
        ]
    lines.append(f"worker logs: {summary['worker_logs']}; the stack keeps running "
                 "(.venv/bin/recstream stack down stops it)")
    return "\n".join(lines)
