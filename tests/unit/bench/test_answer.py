"""`recstream bench serve --in-process`: the CPU of an answer, and the snapshot of the shard in
all and in its longest step, figures measured on a model that really learned."""

from __future__ import annotations

from stream.bench.answer import SNAPSHOT_ROUNDS, format_report, run_answer_bench


def test_the_in_process_bench_reports_answers_and_the_snapshots_pauses():
    report = run_answer_bench(events=10_000, requests=40, candidates=50)
    assert report["requests"] == 36  # a tenth warms the caches
    assert 0 < report["answer_us"]["p50"] <= report["answer_us"]["p99"]
    snapshot = report["snapshot"]
    assert snapshot["bytes"] > 10_000
    assert len(snapshot["held_ms"]) == len(snapshot["total_ms"]) == SNAPSHOT_ROUNDS
    assert all(0 < held <= total for held, total in zip(snapshot["held_ms"],
                                                          snapshot["total_ms"], strict=True))
    assert snapshot["steps"] > 1
    assert "holding the event loop" in format_report(report)
