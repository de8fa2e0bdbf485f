"""What recstream knows about one user or item right now, read straight from the state in Redis."""

from __future__ import annotations

from typing import Any

import numpy as np

from stream.store.reads import StateReader


def inspect_user(reader: StateReader, user_id: str) -> dict[str, Any]:
    facts = reader.user(user_id)
    summary, profile = facts["summary"], facts["profile"]
    return {
        "user_id": user_id,
        "known": bool(summary or profile),
        "clicks": int(summary.get("clicks", 0)),
        "purchases": int(summary.get("purchases", 0)),
        "last_seen_ts_ms": int(summary["ts_ms"]) if "ts_ms" in summary else None,
        "location": facts["location"],
        "weather": _typed(facts["weather"]) or None,
        "recent_items": facts["recent"],
        "purchased": sorted(facts["purchased"]),
        "profile": _typed(profile) or None,
        "embedding_norm": _norm(facts["embedding"]),
    }


def inspect_item(reader: StateReader, item_id: str) -> dict[str, Any]:
    facts = reader.item(item_id)
    counters, meta, rank = facts["counters"], facts["meta"], facts["trending_rank"]
    return {
        "item_id": item_id,
        "known": bool(counters or meta),
        "clicks": int(counters.get("clicks", 0)),
        "purchases": int(counters.get("purchases", 0)),
        "units": int(counters.get("units", 0)),
        "meta": _typed(meta) or None,
        "embedding_norm": _norm(facts["embedding"]),
        "trending_rank": None if rank is None else rank + 1,  # 1: the shop's top item now
    }


def _norm(vector: np.ndarray | None) -> float | None:
    return None if vector is None else round(float(np.linalg.norm(vector)), 4)


def _typed(fields: dict[str, str]) -> dict[str, Any]:
    """Redis hashes hold strings; give numbers back as numbers for --json readers."""
    result: dict[str, Any] = {}
    for name, value in fields.items():
        try:
            number = float(value)
            result[name] = int(number) if number.is_integer() and "." not in value else number
        except ValueError:
            result[name] = value
    return result
