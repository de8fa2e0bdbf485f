"""`recstream bench serve` at a tiny scale through the real stack: what its report holds."""

from __future__ import annotations

from stream.bench.serve import format_report, run_serve_bench
from stream.settings import Settings


def test_the_serve_bench_reports_latency_cpu_and_freshness_beside_the_echo_floor(
        stack: Settings) -> None:
    # A probe's user has an embedding once its item's vector reached the user shards: the
    # warm-up clicks every item of the load (2,000) first, each enough for a vector.
    folders = set(stack.stack.state_dir.iterdir())
    report = run_serve_bench(stack.replace(min_item_count=1), rates=(0, 20), seconds=3,
                             events_rate=500, candidates=50, warm_s=6)
    recstream, echo = report["systems"]["recstream"], report["systems"]["echo"]
    assert set(stack.stack.state_dir.iterdir()) == folders  # the workers' folders are gone
    assert recstream["20"]["answered"] == echo["20"]["answered"] == 60
    assert recstream["0"]["requests"] == 0  # learning alone
    assert all(phase["worker_cores"] > 0 for phase in (*recstream.values(), *echo.values()))
    # The machine is at least as busy as the workers on it (its other cores: the broker, Redis,
    # this process), and no busier than all its cores.
    assert all(phase["worker_cores"] - 0.05 <= phase["machine_cores"] <= report["cpus"] + 0.05
               for phase in (*recstream.values(), *echo.values()))
    assert recstream["20"]["freshness_ms"]["reflected"] > 0
    assert "freshness_ms" not in echo["20"]  # an echo worker keeps no state to probe
    assert all(phase["settled_s"] is not None for phase in recstream.values())  # waited for
    assert echo["20"]["settled_s"] is None
    assert list(report["p99_ratio_to_echo"]) == ["20"]
    assert set(report["cpu_per_request_ms"]["echo"]) == {"20"}  # beyond the idle phase's
    text = format_report(report)
    assert "recstream      0" in text and "recstream's state meanwhile" in text
    assert "each phase began once recstream's state was within" in text
    assert "echo's CPU per request beyond the idle phase's: 20/s" in text
