"""The demo's closing table says when the workers' models had learned the replay before."""

from __future__ import annotations

from typing import Any

from stream.ops.demo import format_summary


def summary(learned_before: int) -> dict[str, Any]:
    """What `run_demo` returns, with only what the summary reads."""
    figures = {"hr@20": 0.05, "mrr@20": 0.01, "n": 100}
    return {"replayed": {"sent": 10, "described": "online-retail",
                         "by_kind": {"PurchaseEvent": 10}, "events_per_s": 100.0},
            "workers": 2, "seconds_until_all_applied": 1.0, "events_per_s_end_to_end": 10.0,
            "state_totals": {"purchases": 10}, "example_user": None, "recommendations": [],
            "quality": {"recstream": figures, "popularity": figures},
            "worker_logs": "logs", "learned_before": learned_before}


def test_a_fleet_that_learned_before_this_run_is_flagged_as_no_peer_of_the_baselines():
    assert "not comparable to the baselines'" in format_summary(summary(learned_before=5_000))


def test_a_fresh_fleet_is_not_flagged():
    assert "not comparable" not in format_summary(summary(learned_before=0))
