"""``recstream ranker export``: the examples topic as the trainer's file.

The workers write ``ranker.examples`` (stream/learning/examples.py): each shown item with the
feature row the server logged and the label the join gave it. This reads the topic to its
present end and writes the ``.npz`` table ``recstream ranker train --data`` reads, so a model
trains on what the stream labelled. Kafka delivers at least once and a restored shard may write
an example again: one row is kept per (request, item), the last. A record that is not a valid
example (whoever wrote it) is counted and skipped, never a crash.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from models.ranker.table import Examples, LabelledRow
from stream.contracts.examples import RankerExample
from stream.errors import UserFacingError
from stream.settings import Settings
from stream.transport.topic_reader import read_topic

log = logging.getLogger(__name__)

__all__ = ["NothingToExport", "export_examples", "table_of"]


class NothingToExport(UserFacingError, LookupError):
    """The examples topic holds nothing to train on."""


def table_of(values: Iterable[bytes], sources: frozenset[str] = frozenset({"served",
                                                                          "evaluated"})
             ) -> tuple[Examples | None, dict[str, int]]:
    """The table of the valid examples among ``values`` whose source is one of ``sources``
    (None when there are none), and the counts of what was read, kept and skipped."""
    kept: dict[tuple[str, str], LabelledRow] = {}
    counts = {"read": 0, "invalid": 0, "other_source": 0}
    for value in values:
        counts["read"] += 1
        try:
            example = RankerExample.model_validate_json(value)
        except ValidationError as exc:
            counts["invalid"] += 1
            log.warning("skipped a record that is no ranker example: %s",
                        str(exc).splitlines()[0])
            continue
        if example.source not in sources:
            counts["other_source"] += 1
            continue
        kept[(example.request_id, example.item_id)] = LabelledRow(
            example.request_id, example.ts.timestamp(), example.ids, example.dense,
            example.label)
    counts["duplicates"] = counts["read"] - counts["invalid"] - counts["other_source"] - len(kept)
    return (Examples.gather(kept.values()) if kept else None), counts


def export_examples(settings: Settings, out: Path, sources: frozenset[str],
                    timeout_s: float = 30.0) -> dict[str, Any]:
    """Read the examples topic to its end and write its table to ``out``; the figures."""
    started = time.perf_counter()
    topic = settings.topics.examples
    table, counts = table_of((value for _, value in read_topic(settings, topic, timeout_s)),
                             sources)
    if table is None:
        raise NothingToExport(f"topic {topic!r} holds no labelled examples of {sorted(sources)} "
                          f"({counts['read']} records read): serve requests and let their join "
                          "window close, or run `recstream evaluate` first")
    table.save(out)
    first, last = table.time_range()
    return {"file": str(out), "topic": topic, **counts, "rows": len(table),
            "requests": table.n_requests, "positives": int(table.label.sum()),
            "from_ts": first, "to_ts": last,
            "seconds": round(time.perf_counter() - started, 1)}
