"""The benchmarks' probes: a phase starts once the workers have caught up with the clicks."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from typing import Any, cast

from stream.bench.load import RECHECK_SHARE, Probes


class Store:
    """Redis as the probes read it: a user's newest item, once the worker has applied it."""

    def __init__(self) -> None:
        self.applied: dict[str, str] = {}

    def latest_recent(self, users: Sequence[str]) -> list[tuple[str | None, bool]]:
        return [(self.applied.get(user), user in self.applied) for user in users]


class Producer:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, event: Any) -> None:
        self.sent.append(event)


def wait_until(condition: Any, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_caught_up_once_a_new_probe_is_reflected_and_none_waits_too_long():
    store, producer = Store(), Producer()
    probes = Probes(cast(Any, store), poll_ms=1)
    try:
        began = time.monotonic()
        probes.send(cast(Any, producer), 1)
        assert not probes.caught_up(within_s=60, since=began), "nothing reflected yet"
        stale = producer.sent[0]
        time.sleep(0.05)
        probes.send(cast(Any, producer), 2)
        fresh = producer.sent[1]
        store.applied[fresh.user_id] = fresh.item_id
        assert wait_until(lambda: probes.latencies())
        assert not probes.caught_up(within_s=0.02, since=began), "the first probe still waits"
        assert probes.caught_up(within_s=60, since=began)
        store.applied[stale.user_id] = stale.item_id
        assert wait_until(lambda: probes.caught_up(within_s=0.02, since=began))
        assert not probes.caught_up(within_s=60, since=time.monotonic()), \
            "no probe sent since then was reflected"
    finally:
        probes.finish(grace_s=0)


class CountingStore(Store):
    """The store, remembering when each user was checked."""

    def __init__(self) -> None:
        super().__init__()
        self.checked: dict[str, list[float]] = {}

    def latest_recent(self, users: Sequence[str]) -> list[tuple[str | None, bool]]:
        now = time.monotonic()
        for user in users:
            self.checked.setdefault(user, []).append(now)
        return super().latest_recent(users)


def test_a_probe_waiting_long_is_checked_at_a_share_of_its_age_not_at_every_poll():
    store, producer = CountingStore(), Producer()
    probes = Probes(cast(Any, store), poll_ms=1)
    try:
        probes.send(cast(Any, producer), 1)
        sent = time.monotonic()
        time.sleep(0.6)
        probe = producer.sent[0]
        store.applied[probe.user_id] = probe.item_id
        applied = time.monotonic() - sent
        assert wait_until(lambda: probes.latencies())
        checks = store.checked[probe.user_id]
        late = [(before, after) for before, after in itertools.pairwise(checks)
                if before - sent > 0.2]
        assert late and all(after - before >= RECHECK_SHARE * (before - sent)
                            for before, after in late)
        # Seen late by at most that share of its latency (and a scheduler's slack).
        assert probes.latencies()[0] - applied <= RECHECK_SHARE * applied + 0.05
        assert len(checks) < 0.6 / 0.001 / 2, "far fewer checks than one per poll"
    finally:
        probes.finish(grace_s=0)
