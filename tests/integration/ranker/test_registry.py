"""`recstream ranker train | promote | rollback | list`: versions in Redis, artefacts in a folder,
and a gate that lets a version go live only when it beats what serves now."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from stream.errors import UserFacingError
from stream.ops.fleet import REPO_ROOT
from stream.ranker import commands
from stream.settings import Settings

pytestmark = pytest.mark.integration
pytest.importorskip("torch", reason="training needs the train extra, which CI installs")


def recstream(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stream.cli", *args], cwd=REPO_ROOT,
                          env=settings.to_env() | {"PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=300)


def test_a_trained_version_is_registered_gated_against_river_then_live(ranker_settings,
                                                                       rows_file):
    entry = commands.train_version(ranker_settings, rows_file, epochs=3, batch_size=128)
    assert entry["version"] == "r1" and not entry["live"]
    assert entry["parity"]["passed"] and entry["parity"]["max_abs_diff"] <= 1e-5
    assert (ranker_settings.serving.ranker_dir / "r1" / "model.onnx").is_file()

    promoted = recstream(ranker_settings, "ranker", "promote", "r1")
    assert promoted.returncode == 0, promoted.stderr
    assert promoted.stdout.startswith("promoted: r1 beats river on the same slice")

    listed = json.loads(recstream(ranker_settings, "ranker", "list", "--json").stdout)
    assert [(v["version"], v["live"]) for v in listed] == [("r1", True)]
    assert set(listed[0]) >= {"version", "live", "metrics", "parity", "sha256"}
    assert set(listed[0]["metrics"]) == {"auc", "logloss", "ndcg@10"}
    assert listed[0]["parity"] == {"max_abs_diff": entry["parity"]["max_abs_diff"],
                                   "passed": True}


def test_a_version_no_better_than_the_live_one_is_refused_with_its_reason(ranker_settings,
                                                                          rows_file):
    commands.train_version(ranker_settings, rows_file, epochs=3, batch_size=128)
    assert commands.promote(ranker_settings, "r1")["promoted"]
    # One pass over the rows: a weaker model of the same data, on the same later slice.
    commands.train_version(ranker_settings, rows_file, epochs=1, batch_size=2048)
    refused = recstream(ranker_settings, "ranker", "promote", "r2")
    assert refused.returncode == 1
    assert refused.stdout.startswith("not promoted: r2 does not beat r1 on the same slice")
    assert commands.registry(ranker_settings).live() == "r1"


def test_rollback_restores_the_version_before_and_then_the_river_model(ranker_settings,
                                                                       rows_file):
    reg = commands.registry(ranker_settings)
    for _ in range(2):
        commands.train_version(ranker_settings, rows_file, epochs=1, batch_size=2048)
    reg.make_live("r1")
    reg.make_live("r2")
    assert commands.roll_back(ranker_settings) == {"from": "r2", "to": "r1"}
    assert commands.roll_back(ranker_settings) == {"from": "r1", "to": "river"}
    with pytest.raises(UserFacingError, match="nothing to roll back"):
        commands.roll_back(ranker_settings)
