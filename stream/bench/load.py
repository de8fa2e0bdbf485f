"""The load the serving and freshness benchmarks put on the workers: clicks from a fixed
population at a steady rate, sent cheaply (the shop's cost of building events is not measured).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from stream.contracts.schemas import ClickEvent
from stream.ops.fleet import WorkerProcess, wait_for
from stream.store.reads import StateReader
from stream.transport.producer import EventProducer

USERS = 20_000
ITEMS = 2_000


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
