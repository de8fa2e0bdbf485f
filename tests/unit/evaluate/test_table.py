"""`recstream evaluate` always sets the worker beside its in-process twin, and shows the gap."""

from __future__ import annotations

from stream.evaluate.run import TWIN, baselines, format_table, gap
from stream.settings import LearningSettings


def figures(hr: float, mrr: float) -> dict[str, float]:
    return {"hr@20": hr, "mrr@20": mrr, "ndcg@20": (hr + mrr) / 2}


def test_the_twin_runs_in_every_evaluation_configured_as_the_worker_is():
    learning = LearningSettings(min_item_count=3)
    twin = baselines(twin=learning)[TWIN]
    embeddings = twin.embeddings
    assert embeddings.min_item_count == 3 and not embeddings.defer_item_steps
    assert TWIN not in baselines()  # the demo's baselines stay as they were


def test_the_table_shows_the_worker_relative_to_its_twin():
    systems = {"recstream": figures(0.198, 0.055), TWIN: figures(0.2, 0.05)}
    result = {"stream": "synthetic", "events": 10, "targets": 10, "exclude_purchased": True,
              "systems": systems, "other_protocol": {"systems": systems},
              "gap": gap(systems["recstream"], systems[TWIN]),
              "recstream_worker": {"learned": 10, "logloss": 0.6, "auc": 0.7, "drifts": 0,
                                   "events_per_s": 50.0, "rate": 2000.0}}
    table = format_table(result)
    assert "recstream worker against recstream-in-process: HR@20 -1.0%, MRR@20 +10.0%" in table
    assert "produced at 2,000 events/s" in table
