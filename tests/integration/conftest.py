"""The real local stack, started once per test session by the project's own launcher.

Kafka and Redis run on free ports with a throw-away state folder; every test gets fresh topic
names, a fresh consumer group and a fresh Redis key prefix, so tests never see each other's data.
If the stack cannot start, every integration test fails (never skips).
"""

from __future__ import annotations

import signal
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
import redis

from stream.ops.fleet import WorkerProcess
from stream.ops.localstack import LocalStack
from stream.settings import Settings, load_settings
from stream.transport.topics import ensure_topics


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    state = tmp_path_factory.mktemp("stack")
    settings = load_settings(
        state_dir=state, kafka_port=_free_port(), kafka_controller_port=_free_port(),
        redis_port=_free_port(),
    )
    local = LocalStack(settings)
    try:
        local.up()
        yield settings
    finally:
        local.down()


@pytest.fixture
def settings(stack: Settings) -> Settings:
    """The stack's settings with topics, consumer group and key prefix of this test's own."""
    fresh = stack.namespaced(uuid.uuid4().hex[:8])
    ensure_topics(fresh)
    return fresh


@pytest.fixture
def redis_client(stack: Settings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(stack.redis.url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def start_worker(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    workers: list[WorkerProcess] = []

    def start(override: Settings | None = None) -> WorkerProcess:
        worker = WorkerProcess(override or settings, tmp_path / f"worker-{len(workers)}.log")
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop(signal.SIGTERM)
        # Shown by pytest only when the test failed.
        print(f"--- {worker.log.name} ---\n{worker.output()[-6000:]}")


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str,
               interval_s: float = 0.2, workers: Sequence[WorkerProcess] = ()) -> None:
    """Poll ``condition``; fail on time-out, or at once when a watched worker has died."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        for worker in workers:
            if not worker.alive:
                raise AssertionError(f"a worker died while waiting for {what}:\n"
                                     f"{worker.output()[-4000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what}")
        time.sleep(interval_s)
