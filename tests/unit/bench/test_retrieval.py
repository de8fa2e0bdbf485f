"""`recstream bench retrieval` at a tiny size: what its report holds, and that it holds up.

One run serves every test: OnlineMF learns the first 3,000 Online Retail events, then 2,000
random and 2,000 trained-like vectors are searched by 20 queries.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stream.bench.retrieval import run

SETS = ["trained", "random", "trained-like"]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("bench") / "retrieval.json"
    return run(sizes=(2_000,), queries=20, k=50, train_events=3_000, out=out), out


@pytest.fixture(scope="module")
def report(written: tuple[dict[str, Any], Path]) -> dict[str, Any]:
    return written[0]


def test_the_report_names_its_conditions_and_measures_every_set(report: dict[str, Any]) -> None:
    assert report["benchmark"] == "retrieval"
    assert (report["k"], report["dims"], report["queries"]) == (50, 32, 20)
    assert report["trained_on"]["dataset"] == "online-retail"
    assert report["trained_on"]["items"] > 0 and report["trained_on"]["users"] > 0
    assert [figures["vectors"] for figures in report["sets"]] == SETS
    assert [figures["items"] for figures in report["sets"]][1:] == [2_000, 2_000]
    assert report["sets"][0]["items"] == report["trained_on"]["items"]


def test_exact_search_is_the_reference_with_recall_one(report: dict[str, Any]) -> None:
    for figures in report["sets"]:
        exact = figures["exact"]
        assert exact["recall"] == 1.0
        assert 0 < exact["p50_ms"] <= exact["p99_ms"]


def test_every_index_setting_has_its_latency_and_recall(report: dict[str, Any]) -> None:
    pytest.importorskip("faiss", reason="the `ann` extra (faiss-cpu) is not installed")
    for figures in report["sets"]:
        assert [index["index"] for index in figures["indexes"]] == ["ivf-flat", "hnsw"]
        for index in figures["indexes"]:
            assert index["build_s"] >= 0 and index["settings"]
            for setting in index["settings"]:
                assert set(setting) == {index["param"], "p50_ms", "p99_ms", "recall"}
                assert 0.0 <= setting["recall"] <= 1.0
        ivf = figures["indexes"][0]
        assert ivf["update_ms_per_1k"] > 0
        # Scanning more cells finds more of the exact answer.
        recalls = [setting["recall"] for setting in ivf["settings"]]
        assert recalls == sorted(recalls)


def test_the_best_setting_reaches_the_recall_target(report: dict[str, Any]) -> None:
    pytest.importorskip("faiss", reason="the `ann` extra (faiss-cpu) is not installed")
    for figures in report["sets"]:
        best = figures["best"]
        if best is not None:
            assert best["recall"] >= report["recall_target"]
            assert best["speedup_p50"] == round(figures["exact"]["p50_ms"] / best["p50_ms"], 1)


def test_the_figures_are_written_as_json(written: tuple[dict[str, Any], Path]) -> None:
    report, out = written
    assert json.loads(out.read_text()) == report
