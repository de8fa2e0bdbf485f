"""Training rows for the ranker from a data set, replayed in-process through the worker's model.

The replay is :func:`models.ranker.examples.replay` over the events `recstream evaluate` reads,
with the model every worker builds (:func:`~stream.learning.user_shard.recstream_model`, as its
in-process twin, which learns its item halves and trending itself): so the rows' signals are
those the worker's shard would have given at the same moment.
"""

from __future__ import annotations

import time
from pathlib import Path

from models.ranker.examples import replay
from models.ranker.memory import RankerMemory
from models.ranker.table import Examples
from stream.evaluate.run import interactions, load_events
from stream.learning.user_shard import recstream_model
from stream.settings import LearningSettings


def make_examples(dataset: str, path: Path | None = None, limit: int | None = None,
                  every: int = 1, candidates: int = 100) -> Examples:
    """Replay the data set and return its labelled rows (one impression per ``every`` baskets)."""
    events, location = load_events(dataset, path, limit)
    model = recstream_model(0, LearningSettings(), distributed=False)
    return replay(interactions(events, location), model, RankerMemory(), candidates, every)


def write_examples(out: Path, dataset: str, path: Path | None = None, limit: int | None = None,
                   every: int = 1, candidates: int = 100) -> dict[str, object]:
    started = time.perf_counter()
    rows = make_examples(dataset, path, limit, every, candidates)
    rows.save(out)
    first, last = rows.time_range()
    return {"file": str(out), "rows": len(rows), "requests": rows.n_requests,
            "positives": int(rows.label.sum()), "from_ts": first, "to_ts": last,
            "seconds": round(time.perf_counter() - started, 1)}
