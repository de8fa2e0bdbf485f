"""Snapshots are loaded only when signed with our key and written in the format this code reads."""

from __future__ import annotations

import pytest

from stream.learning import snapshots
from stream.learning.snapshots import SnapshotCodec, SnapshotRejected

KEY = b"a-key-of-32-bytes-or-so-for-hmac"


def test_a_snapshot_of_another_format_is_refused_not_unpickled(monkeypatch):
    written = SnapshotCodec(KEY).encode({"offsets": {"clicks": 7}})
    monkeypatch.setattr(snapshots, "FORMAT", snapshots.FORMAT + 1)  # the code moved on
    with pytest.raises(SnapshotRejected, match="another format"):
        SnapshotCodec(KEY).decode(written)


def test_a_snapshot_of_this_format_and_key_round_trips():
    codec = SnapshotCodec(KEY)
    assert codec.decode(codec.encode({"offsets": {"clicks": 7}})) == {"offsets": {"clicks": 7}}
