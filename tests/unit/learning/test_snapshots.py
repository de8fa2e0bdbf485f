"""Snapshots are loaded only when signed with our key and written in the format this code reads."""

from __future__ import annotations

import copyreg
import pickle

import pytest

from models.ranker.serving import LiveRanker
from stream.learning import snapshots
from stream.learning.snapshots import SnapshotCodec, SnapshotRejected
from stream.learning.user_shard import UserShard
from stream.settings import LearningSettings

KEY = b"a-key-of-32-bytes-or-so-for-hmac"


def test_a_snapshot_of_another_format_is_refused_not_unpickled(monkeypatch):
    written = SnapshotCodec(KEY).encode({"offsets": {"clicks": 7}}, "user:0")
    monkeypatch.setattr(snapshots, "FORMAT", snapshots.FORMAT + 1)  # the code moved on
    with pytest.raises(SnapshotRejected, match="another format"):
        SnapshotCodec(KEY).decode(written, "user:0")


def test_a_snapshot_of_this_format_and_key_round_trips():
    codec = SnapshotCodec(KEY)
    assert codec.decode(codec.encode({"offsets": {"clicks": 7}}, "items:2"), "items:2") == {
        "offsets": {"clicks": 7}}


@pytest.mark.parametrize("written, read", [("user:3", "user:5"), ("user:3", "items:3"),
                                           ("user:1", "user:13")])
def test_a_snapshot_is_bound_to_its_shard(written, read):
    codec = SnapshotCodec(KEY)
    with pytest.raises(SnapshotRejected, match="this shard"):
        codec.decode(codec.encode({"learned": 1}, written), read)


def test_a_snapshot_restores_under_another_state_folder_with_the_same_key(tmp_path):
    from stream.settings import load_settings

    key = "0123456789abcdef" * 4
    here = snapshots.snapshot_key(load_settings(snapshot_key=key, state_dir=tmp_path / "a"))
    there = snapshots.snapshot_key(load_settings(snapshot_key=key, state_dir=tmp_path / "b"))
    blob = SnapshotCodec(here).encode({"learned": 5}, "user:0")
    assert SnapshotCodec(there).decode(blob, "user:0") == {"learned": 5}


def test_a_restored_shard_is_bound_to_the_workers_live_ranker_once():
    live = LiveRanker()
    shard = UserShard.new(0, LearningSettings(), exclude_purchased=True)
    shard.rank_with(live)
    restored = pickle.loads(pickle.dumps(shard))
    assert restored.model.scorer_.live is not live  # a snapshot holds an empty copy
    restored.rank_with(live)
    bound = restored.model.scorer_
    assert bound.live is live
    restored.rank_with(live)  # bound again: the scorer stays, nothing is rebuilt
    assert restored.model.scorer_ is bound


class Table:
    """A model part as the shards hold them: a row per user, and a row shared with another."""

    def __init__(self, users: int) -> None:
        self.rows = {f"u{n}": {"tea": float(n), "jam": 1.0} for n in range(users)}
        self.totals = {f"u{n}": float(n) for n in range(users)}
        self.shared = self.rows["u7"]


class Shard:
    def __init__(self, model: Table) -> None:
        self.model = model
        self.offsets = {"clicks": 7}


def test_a_large_shard_is_pickled_in_steps_and_restored_whole_with_its_sharing():
    shard = Shard(Table(5 * snapshots.CHUNK))
    codec = SnapshotCodec(KEY)
    steps = list(codec.steps(shard, "user:0"))
    # Five chunks of rows, the table that held them, then the snapshot itself.
    assert steps[:-1] == [None] * 6 and isinstance(steps[-1], bytes)
    restored = codec.decode(steps[-1], "user:0")
    assert restored.model.rows == shard.model.rows
    assert restored.model.totals == shard.model.totals
    assert restored.model.shared is restored.model.rows["u7"]
    assert restored.offsets == {"clicks": 7}


def test_a_snapshot_in_steps_is_the_snapshot_at_once():
    codec = SnapshotCodec(KEY)
    shard = UserShard.new(0, LearningSettings(), exclude_purchased=True)
    assert codec.encode(shard, "user:0") == list(codec.steps(shard, "user:0"))[-1]
    restored = codec.decode(codec.encode(shard, "user:0"), "user:0")
    assert isinstance(restored, UserShard) and restored.partition == 0


class Session:
    """What a shard must never pickle (an inference session)."""

    def __reduce__(self):
        raise TypeError("cannot pickle a session")


class Scorer:
    """Holds a session and pickles empty, as the live ranker does."""

    def __init__(self) -> None:
        self.session = Session()

    def __reduce__(self):
        return (Scorer.empty, ())

    @staticmethod
    def empty() -> Scorer:
        scorer = Scorer.__new__(Scorer)
        scorer.session = None  # type: ignore[assignment]
        return scorer


class Registered:
    """Holds a session and pickles empty through a reducer registered with copyreg."""

    def __init__(self) -> None:
        self.session = Session()


copyreg.pickle(Registered, lambda _: (Registered.__new__, (Registered,)))


def test_the_steps_pickle_what_pickling_at_once_pickles_and_nothing_it_leaves_out():
    shard = Shard(Table(snapshots.CHUNK))
    shard.model.scorer = Scorer()  # type: ignore[attr-defined]
    shard.model.registered = Registered()  # type: ignore[attr-defined]
    codec = SnapshotCodec(KEY)
    restored = codec.decode(codec.encode(shard, "user:0"), "user:0")
    assert restored.model.scorer.session is None
    assert not hasattr(restored.model.registered, "session")
    assert restored.model.rows == shard.model.rows


def test_whatever_the_steps_stumble_on_the_shard_is_pickled_at_once(monkeypatch):
    monkeypatch.setattr(snapshots, "_chunks", lambda obj: iter([[Session()]]))
    shard = Shard(Table(snapshots.CHUNK))
    codec = SnapshotCodec(KEY)
    restored = codec.decode(codec.encode(shard, "user:0"), "user:0")
    assert restored.model.rows == shard.model.rows and restored.offsets == {"clicks": 7}
