"""The demo's summary says where the run's state stays, and how to look at it."""

from __future__ import annotations

from typing import Any

from stream.ops.demo import format_summary


def summary(example_user: dict[str, Any] | None) -> dict[str, Any]:
    """What `run_demo` returns, with only what the summary reads."""
    figures = {"hr@20": 0.05, "mrr@20": 0.01, "n": 100}
    return {"replayed": {"sent": 10, "described": "online-retail",
                         "by_kind": {"PurchaseEvent": 10}, "events_per_s": 100.0},
            "workers": 2, "seconds_until_all_applied": 1.0, "events_per_s_end_to_end": 10.0,
            "state_totals": {"purchases": 10}, "example_user": example_user,
            "recommendations": [], "quality": {"recstream": figures, "popularity": figures},
            "worker_logs": "logs", "key_prefix": "rs-demo-ab12cd"}


def test_the_inspect_hint_names_the_runs_own_key_prefix():
    """Every run has keys of its own: the default prefix would show another run's state."""
    text = format_summary(summary({"user_id": "17841"}))
    assert "RECSTREAM_KEY_PREFIX=rs-demo-ab12cd .venv/bin/recstream inspect user 17841" in text
    assert "recommend --user" not in text  # the demo's workers are stopped: nobody would answer


def test_where_it_rains_nowhere_the_summary_says_so_instead_of_a_newcomer_in_the_rain():
    """The issue's demo asks for one in the rain: when the replay ended dry, the reader hears
    why there is none."""
    assert "a newcomer in the rain: none to ask for" in format_summary(summary(None))
    rained = summary(None)
    rained["recommendations"] = [{"who": "a newcomer in the rain at Paris", "user_id": "rain-1",
                                  "location": "Paris", "recent_items": [],
                                  "reply": {"error": None, "items": [], "timings_ms": {},
                                            "model_versions": {}, "degraded": []}}]
    assert "none to ask for" not in format_summary(rained)


def test_without_a_known_user_only_the_prefix_is_named():
    text = format_summary(summary(None))
    assert "under the key prefix rs-demo-ab12cd" in text and "inspect user" not in text
