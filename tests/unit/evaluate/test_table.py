"""`recstream evaluate` always sets the worker beside its in-process twin, and shows the gap."""

from __future__ import annotations

from typing import Any

from stream.evaluate.run import TWIN, baselines, format_table, gap
from stream.settings import LearningSettings


def figures(hr: float, mrr: float) -> dict[str, float]:
    return {"hr@20": hr, "mrr@20": mrr, "ndcg@20": (hr + mrr) / 2}


def evaluation(worker: dict[str, float], twin: dict[str, float], rate: float | None = None,
               by_location: dict[str, float] | None = None) -> dict[str, Any]:
    """What `run_evaluation` returns, with only what the table reads."""
    systems = {"recstream": worker, TWIN: twin}
    return {"stream": "synthetic", "events": 10, "targets": 10, "exclude_purchased": True,
            "systems": systems, "other_protocol": {"systems": systems},
            "gap": gap(worker, twin),
            "recstream_worker": {"learned": 10, "logloss": 0.6, "auc": 0.7, "drifts": 0,
                                 "events_per_s": 50.0, "rate": rate},
            "coverage": {"recstream": {"coverage": 0.9, "asked": 1000,
                                       "by_location": by_location or {}}}}


def test_the_twin_runs_in_every_evaluation_configured_as_the_worker_is():
    learning = LearningSettings(min_item_count=3)
    twin = baselines(twin=learning)[TWIN]
    embeddings = twin.embeddings
    assert embeddings.min_item_count == 3 and not embeddings.defer_item_steps
    assert TWIN not in baselines()  # the demo's baselines stay as they were


def test_the_table_shows_the_worker_relative_to_its_twin():
    table = format_table(evaluation(figures(0.198, 0.055), figures(0.2, 0.05), rate=2000.0))
    assert "recstream worker against recstream-in-process: HR@20 -1.0%, MRR@20 +10.0%" in table
    assert "produced at 2,000 events/s" in table


def test_the_table_shows_coverage_with_the_least_covered_locations_first():
    table = format_table(evaluation(figures(0.2, 0.05), figures(0.2, 0.05),
                                    by_location={"York": 1.0, "Leeds": 0.8}))
    assert ("coverage (known users' asks answered with a personalised list): 90.0% of 1,000; "
            "lowest locations: Leeds 80.0%, York 100.0%") in table
