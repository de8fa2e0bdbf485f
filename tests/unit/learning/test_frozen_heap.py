"""The worker's garbage collector policy: long-lived state frozen, the young collected rarely."""

from __future__ import annotations

import gc

import pytest

from stream.learning import shell
from stream.learning.shell import FrozenHeap


@pytest.fixture(autouse=True)
def restore_gc():
    threshold = gc.get_threshold()
    yield
    gc.set_threshold(*threshold)
    gc.unfreeze()


def test_the_youngest_generation_is_collected_after_many_new_objects_not_pythons_700():
    FrozenHeap(young=20_000)
    assert gc.get_threshold()[0] == 20_000


def test_what_lives_past_the_freeze_interval_is_frozen_and_a_full_collection_comes_later(
        monkeypatch):
    now = [1_000.0]
    monkeypatch.setattr(shell.time, "monotonic", lambda: now[0])
    heap = FrozenHeap(freeze_every_s=5.0, collect_every_s=600.0)
    kept = [{"a": [1]} for _ in range(100)]  # long-lived state
    heap.tick()
    assert gc.get_freeze_count() == 0  # not yet 5 s
    now[0] += 6
    heap.tick()
    assert gc.get_freeze_count() >= len(kept)
    now[0] += 601
    collections = gc.get_stats()[2]["collections"]
    heap.tick()  # unfreezes, collects everything once, freezes again
    assert gc.get_stats()[2]["collections"] == collections + 1
