"""`recstream bench serve`'s arithmetic: what a request costs the workers' CPU."""

from __future__ import annotations

import pytest

from stream.bench.serve import _cpu_per_request


def phase(rate: float, cores: float) -> dict:
    return {"requests": int(rate * 10), "achieved_rate": rate, "worker_cores": cores}


def test_a_request_costs_the_cores_beyond_the_idle_phase_over_the_rate():
    costs = _cpu_per_request({"0": {"requests": 0, "worker_cores": 0.3},
                              "100": phase(100, 0.45), "500": phase(500, 0.95)}, workers=1)
    assert costs["100"] == {"ms": pytest.approx(1.5), "saturated": False}
    assert costs["500"] == {"ms": pytest.approx(1.3), "saturated": True}  # a floor
    assert "0" not in costs


def test_saturation_is_per_worker_of_the_fleet():
    costs = _cpu_per_request({"0": {"requests": 0, "worker_cores": 0.6},
                              "500": phase(500, 1.6)}, workers=2)
    assert costs["500"]["saturated"] is False


def test_without_an_idle_phase_nothing_is_subtracted_so_nothing_is_said():
    assert _cpu_per_request({"100": phase(100, 0.45)}, workers=1) == {}
