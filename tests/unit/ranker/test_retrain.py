"""The retrain schedule: a round on time after a failed one, and durations as operators write them."""

from __future__ import annotations

import pytest

from stream.errors import UserFacingError
from stream.ranker import retrain
from stream.settings import load_settings


def test_a_failed_round_is_logged_and_the_next_one_still_runs(monkeypatch, caplog):
    outcomes = iter([RuntimeError("the data file is being rewritten"), {"round": 2}])

    def once(settings, **kwargs):
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(retrain, "retrain_once", once)
    reports: list[dict] = []
    retrain.retrain_every(load_settings(), every_s=0.0, rounds=2, report=reports.append,
                          dataset="online-retail")
    assert reports == [{"round": 2}]
    assert "retrain round failed; the live version stays" in caplog.text


def test_a_duration_without_a_unit_is_refused_with_an_example():
    with pytest.raises(UserFacingError, match=r"e\.g\. 90s, 15m, 1h"):
        retrain.duration_s("60")
