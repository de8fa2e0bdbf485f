"""A worker's follower of ``models.control`` without a broker: which version it makes live when
an announcement is refused, with a version live and with none (a restart)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from models.ranker.serving import LiveRanker, RankerSession
from stream.contracts.control import RankerAnnouncement
from stream.settings import load_settings
from stream.transport import control
from stream.transport.control import RankerFollower

torch = pytest.importorskip("torch", reason="graphs are made with the train extra")

from models.ranker.net import DCNv2  # noqa: E402
from models.ranker.train import export_onnx  # noqa: E402


@pytest.fixture(scope="module")
def onnx() -> bytes:
    torch.manual_seed(0)
    return export_onnx(DCNv2().eval())


@pytest.fixture
def version(tmp_path: Path, onnx: bytes) -> Callable[..., RankerAnnouncement]:
    """An announced version whose artefact on disk is the registered one, or corrupt."""

    def make(name: str, corrupt: bool = False) -> RankerAnnouncement:
        path = tmp_path / name / "model.onnx"
        path.parent.mkdir()
        path.write_bytes(onnx[:-64] + bytes(64) if corrupt else onnx)
        return RankerAnnouncement(version=name, sha256=hashlib.sha256(onnx).hexdigest(),
                                  path=str(path))

    return make


def follow(messages: list[RankerAnnouncement], earlier: Callable[[], list[RankerAnnouncement]],
           live: LiveRanker | None = None) -> tuple[LiveRanker, RankerFollower]:
    live = live or LiveRanker()

    async def run() -> RankerFollower:
        follower = RankerFollower(load_settings(), live, earlier)
        for message in messages:
            await follower.take(message.model_dump_json().encode())
        return follower

    return live, asyncio.run(run())


def test_a_restart_on_a_refused_version_falls_back_to_the_newest_earlier_good_one(version):
    r1, r2 = version("r1"), version("r2", corrupt=True)
    live, follower = follow([r2], lambda: [r1])
    assert live.version == "r1"
    [reason] = follower.refused
    assert reason.startswith("ranker r2: sha256") and "(corrupt or replaced artefact)" in reason
    assert reason.endswith("none was live yet: fell back to ranker r1, the newest earlier good "
                           "version")


def test_a_fallback_skips_refused_versions_and_tries_each_once(version, monkeypatch):
    r0, r1, r2 = version("r0"), version("r1", corrupt=True), version("r2", corrupt=True)
    tried: list[str | None] = []
    load = control.load

    def counted(message: RankerAnnouncement) -> RankerSession | None:
        tried.append(message.version)
        return load(message)

    monkeypatch.setattr(control, "load", counted)
    live, follower = follow([r2], lambda: [r2, r1, r0])  # r2 in its own history: skipped
    assert live.version == "r0" and tried == ["r2", "r1", "r0"]
    assert "ranker r1: sha256" in follower.refused[0] and "trying an earlier" in follower.refused[0]
    assert follower.refused[1].endswith("fell back to ranker r0, the newest earlier good version")


def test_with_a_version_live_a_refusal_keeps_it_and_reads_no_history(version):
    def no_history() -> list[RankerAnnouncement]:
        raise AssertionError("the history is read only when no version is live")

    live, follower = follow([version("r1"), version("r2", corrupt=True)], no_history)
    assert live.version == "r1" and follower.refused[-1].endswith("ranker r1 stays live")


def test_no_good_earlier_version_or_no_history_leaves_the_river_model(version):
    def unreachable() -> list[RankerAnnouncement]:
        raise ConnectionError("redis is down")

    r2 = version("r2", corrupt=True)
    for earlier in (list, unreachable):
        live, follower = follow([r2], earlier)
        assert live.version is None
        assert follower.refused[-1].endswith("no earlier good version, the River model ranks")
