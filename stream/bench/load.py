"""The load the serving and freshness benchmarks put on the workers: clicks from a fixed
population at a steady rate, sent cheaply (the shop's cost of building events is not measured).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from stream.contracts.schemas import ClickEvent
from stream.ops.fleet import WorkerProcess, wait_for
from stream.store.reads import StateReader
from stream.transport.producer import EventProducer

USERS = 20_000
ITEMS = 2_000
# A probe not reflected yet is checked again after this share of its age at the earliest: its
# figure is then late by at most 2% of itself (or ``poll_ms``, the longer).
RECHECK_SHARE = 0.02


def click(n: int, user_id: str | None = None) -> ClickEvent:
    """The n-th click of the load: USERS known users on ITEMS items, at the current time."""
    return ClickEvent(event_id=f"f{n}", user_id=user_id or f"u{(n * 7919) % USERS}",
                      item_id=f"i{(n * 104_729) % ITEMS}", ts=datetime.now(UTC))


def send_load(producer: EventProducer, topic: str, n: int) -> None:
    """The n-th click as the contract's JSON (ts in epoch ms), keyed by its user."""
    user = f"u{(n * 7919) % USERS}"
    value = (f'{{"schema_version":1,"event_id":"f{n}","user_id":"{user}",'
             f'"item_id":"i{(n * 104_729) % ITEMS}","ts":{int(time.time() * 1000)}}}')
    while True:
        try:
            producer._producer.produce(topic, value.encode(), user.encode())
            return
        except BufferError:
            producer._producer.poll(0.05)


def warm_up(producer: EventProducer, reader: StateReader, fleet: list[WorkerProcess]) -> None:
    """Wait until the workers have joined and apply clicks on every partition, so start-up
    (and the group's rebalances as workers join) is not measured."""
    users = [f"warm-up-{n}" for n in range(64)]  # enough users to reach every partition
    for user in users:
        producer.send(ClickEvent(event_id=f"warm-{user}", user_id=user, item_id="i0",
                                 ts=datetime.now(UTC)))
    producer.flush()
    wait_for(lambda: all(latest == "i0" for latest, _ in reader.latest_recent(users)), fleet,
             "the workers applying clicks on every partition", 120, interval_s=0.05)
    time.sleep(2)  # a second worker's join may still move partitions: let the group settle


def quantile(sorted_values: list[float], q: float) -> float:
    index = min(int(q * len(sorted_values)), len(sorted_values) - 1)
    return sorted_values[index]


class Probes:
    """Clicks of users never seen before, and when each was reflected in Redis: its item at the
    head of the user's recent items AND the user's embedding (learned from it) there. A thread
    checks the outstanding probes in one pipeline every ``poll_ms``; a probe is checked again
    ``poll_ms`` or ``RECHECK_SHARE`` of its age later, whichever is longer, so each figure is
    late by at most that much. Checking every outstanding probe every 5 ms cost the benchmark
    0.10 to 0.16 cores, and Redis its share, while the state lagged 5 to 10 s behind: cores of
    the machine the workers are measured on."""

    def __init__(self, reader: StateReader, poll_ms: float = 5) -> None:
        self.reader = reader
        self.poll_ms = poll_ms
        self.sent_at: dict[str, tuple[float, str]] = {}  # probe user -> (produce time, item)
        self.seen_at: dict[str, float] = {}
        self._due: dict[str, float] = {}  # outstanding probe user -> when to check it next
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._stop_at = float("inf")
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def send(self, producer: EventProducer, n: int) -> None:
        """The n-th click of the load as a probe (its own user), through the SDK's ``send``."""
        probe = click(n, f"probe-{n}")
        producer.send(probe)
        with self._lock:
            self.sent_at[probe.user_id] = (now := time.monotonic(), probe.item_id)
            self._due[probe.user_id] = now

    def finish(self, grace_s: float = 30) -> None:
        """Wait for the outstanding probes, ``grace_s`` at most."""
        self._stop_at = time.monotonic() + grace_s
        self._done.set()
        self._thread.join()

    def caught_up(self, within_s: float, since: float) -> bool:
        """Whether, of the probes sent since ``since``, one was reflected and none sent more
        than ``within_s`` ago waits: the workers have caught up with the load."""
        now = time.monotonic()
        with self._lock:
            recent = [(sent, user in self.seen_at) for user, (sent, _) in self.sent_at.items()
                      if sent >= since]
        return (any(seen for _, seen in recent)
                and not any(now - sent > within_s and not seen for sent, seen in recent))

    def latencies(self, since: float = float("-inf"), until: float = float("inf")
                  ) -> list[float]:
        """The reflected probes sent in [since, until), seconds each, sorted."""
        with self._lock:
            return sorted(self.seen_at[user] - sent for user, (sent, _) in self.sent_at.items()
                          if since <= sent < until and user in self.seen_at)

    def _poll(self) -> None:
        while not self._done.is_set() or self._due:
            began = time.monotonic()
            with self._lock:
                due = [(user, *self.sent_at[user]) for user, at in self._due.items()
                       if at <= began]
            if due:
                replies = self.reader.latest_recent([user for user, *_ in due])
                now = time.monotonic()
                with self._lock:
                    for (user, sent, item), (latest, embedded) in zip(due, replies, strict=True):
                        if latest == item and embedded:
                            self.seen_at[user] = now
                            del self._due[user]
                        else:
                            self._due[user] = now + max(self.poll_ms / 1000,
                                                        RECHECK_SHARE * (now - sent))
            if self._done.is_set() and time.monotonic() > self._stop_at:
                return
            time.sleep(self.poll_ms / 1000)
