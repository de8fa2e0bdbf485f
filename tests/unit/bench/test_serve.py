"""`recstream bench serve`'s arithmetic: what a request costs the workers' CPU, and whether the
machine had a core to spare."""

from __future__ import annotations

import os

import pytest

from stream.bench import machine
from stream.bench.serve import _cpu_per_request, format_report


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


def test_the_machine_is_busy_in_user_system_interrupts_and_steal_not_idle_or_io_wait():
    stat = "cpu  100 20 30 1000 50 5 5 10 0 0\ncpu0 50 10 15 500 25 2 3 5 0 0\n"
    assert machine.busy_seconds(stat) == pytest.approx(170 / os.sysconf("SC_CLK_TCK"))


def test_a_phase_on_a_machine_with_no_core_to_spare_is_named_beside_its_latencies():
    answered = phase(500, 1.2) | {"answered": 5000, "errors": 0, "p50_ms": 70.0,
                                  "p99_ms": 305.0, "p999_ms": 480.0,
                                  "worker_ms": {"total": {"p50": 27.6, "p99": 113.4}}}
    report = {"candidates": 500, "events_rate": 2000, "seconds_per_rate": 10, "workers": 2,
              "cpus": 2, "p99_ratio_to_echo": {}, "cpu_per_request_ms": {},
              "systems": {"recstream": {"0": {"requests": 0, "worker_cores": 0.6,
                                              "machine_cores": 1.1},
                                        "500": answered | {"machine_cores": 1.94}}}}
    text = format_report(report)
    assert "1.2 cores, 1.94" in text
    assert ("the machine had no core to spare in recstream 500/s (1.94 of 2 cores)" in text)
    assert "recstream 0/s" not in text
