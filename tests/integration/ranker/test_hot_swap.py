"""A worker swaps ranker versions while it answers: promotion announced on ``models.control``,
the new session loaded beside the old, every request answered, the switch visible in the
replies; a corrupt artefact refused with the old version still serving, and a worker that
starts on a corrupt version falling back to the one live before it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from models.ranker.table import Examples
from stream.ops.fleet import WorkerProcess
from stream.ranker import commands
from stream.ranker.registry import Registry
from stream.settings import Settings
from stream.transport.client import RecommendationClient
from tests.integration.conftest import wait_until
from tests.integration.traffic import learned, send_raw
from tests.unit.ranker.conftest import synthetic_rows

pytestmark = pytest.mark.integration
torch = pytest.importorskip("torch", reason="graphs are made with the train extra")

from models.ranker.net import DCNv2  # noqa: E402
from models.ranker.train import export_onnx  # noqa: E402

USERS = ("ann", "bob", "cat")
ITEMS = ("tea", "cup", "pot", "jam", "mug", "bun")
TIMEOUT_S = 15.0


def register_untrained(reg: Registry, seed: int, held_out: Examples) -> str:
    """A version whose graph is a freshly initialised network: any graph of the right inputs
    serves; what this test watches is which one does."""
    torch.manual_seed(seed)
    entry = reg.register(export_onnx(DCNv2().eval()), held_out,
                         metrics={"auc": 0.5, "logloss": 0.7, "ndcg@10": 0.3},
                         river={"auc": 0.5, "logloss": 0.7, "ndcg@10": 0.3},
                         parity={"max_abs_diff": 0.0, "passed": True}, data={})
    return entry.version


@pytest.fixture
def start_learned(ranker_settings: Settings, start_worker: Callable[..., WorkerProcess]
                  ) -> Callable[[], WorkerProcess]:
    """Starts a worker and lets it learn clicks of USERS, so it holds their shards."""

    def start() -> WorkerProcess:
        process = start_worker(ranker_settings)
        begin = datetime.now(UTC) - timedelta(hours=1)
        messages: list[tuple[str, bytes | None, bytes]] = [
            (ranker_settings.topics.clicks, user.encode(), json.dumps({
                "schema_version": 1, "event_id": f"{user}-{i}", "user_id": user,
                "item_id": item, "ts": (begin + timedelta(minutes=i)).isoformat()}).encode())
            for u, user in enumerate(USERS) for i, item in enumerate(ITEMS[u:] + ITEMS[:u])]
        send_raw(ranker_settings, messages)
        wait_until(lambda: learned(ranker_settings) >= len(messages), 120,
                   "the clicks to be learned", workers=[process])
        return process

    return start


@pytest.fixture
def worker(start_learned: Callable[[], WorkerProcess]) -> WorkerProcess:
    return start_learned()


def ranker_of(client: RecommendationClient, user: str = "ann") -> str | None:
    reply = client.request(user, k=3)
    assert reply.error is None and reply.items, reply
    return reply.model_versions.get("ranker")


def test_a_promotion_while_requests_stream_switches_every_reply_after_it(ranker_settings,
                                                                         worker):
    reg = commands.registry(ranker_settings)
    held_out = synthetic_rows(requests=20)
    first, second = (register_untrained(reg, seed, held_out) for seed in (1, 2))
    with RecommendationClient(ranker_settings, timeout_s=TIMEOUT_S) as client:
        assert ranker_of(client) is None  # no version live: the River model ranks
        commands.go_live(ranker_settings, reg, first)
        wait_until(lambda: ranker_of(client) == first, 60, f"{first} to serve",
                   workers=[worker])

        seen: list[str | None] = []
        failures: list[BaseException] = []
        stop = threading.Event()

        def stream_requests() -> None:
            try:
                while not stop.is_set():
                    seen.append(ranker_of(client, USERS[len(seen) % len(USERS)]))
            except BaseException as exc:
                failures.append(exc)

        asker = threading.Thread(target=stream_requests)
        asker.start()
        wait_until(lambda: len(seen) >= 20 or bool(failures), 60, "requests before the swap")
        commands.go_live(ranker_settings, reg, second)
        wait_until(lambda: seen.count(second) >= 20 or bool(failures), 60,
                   f"replies from {second}", workers=[worker])
        stop.set()
        asker.join(timeout=TIMEOUT_S * 2)

    assert not failures, failures  # every request answered, none timed out or failed
    switch = seen.index(second)
    assert set(seen[:switch]) == {first} and set(seen[switch:]) == {second}, seen


def test_a_corrupt_artefact_is_refused_and_the_live_version_keeps_serving(ranker_settings,
                                                                          worker):
    reg = commands.registry(ranker_settings)
    held_out = synthetic_rows(requests=20)
    good, corrupt = (register_untrained(reg, seed, held_out) for seed in (1, 2))
    with RecommendationClient(ranker_settings, timeout_s=TIMEOUT_S) as client:
        commands.go_live(ranker_settings, reg, good)
        wait_until(lambda: ranker_of(client) == good, 60, f"{good} to serve", workers=[worker])
        artefact = reg.model_path(corrupt)
        artefact.write_bytes(artefact.read_bytes()[:-64] + bytes(64))  # flipped on disk
        commands.go_live(ranker_settings, reg, corrupt)
        wait_until(lambda: f"REFUSED ranker {corrupt}" in worker.output(), 60,
                   "the refusal in the worker's log", workers=[worker])
        assert "sha256" in worker.output() and f"ranker {good} stays live" in worker.output()
        assert all(ranker_of(client, user) == good for user in USERS)


def test_a_worker_started_on_a_corrupt_version_falls_back_to_the_one_live_before(
        ranker_settings, start_learned):
    reg = commands.registry(ranker_settings)
    held_out = synthetic_rows(requests=20)
    good, corrupt = (register_untrained(reg, seed, held_out) for seed in (1, 2))
    commands.go_live(ranker_settings, reg, good)
    commands.go_live(ranker_settings, reg, corrupt)  # announced over the good one
    artefact = reg.model_path(corrupt)
    artefact.write_bytes(artefact.read_bytes()[:-64] + bytes(64))

    worker = start_learned()  # no version in memory: the latest announcement is the corrupt one
    wait_until(lambda: f"REFUSED ranker {corrupt}" in worker.output(), 60,
               "the refusal in the worker's log", workers=[worker])
    assert (f"none was live yet: fell back to ranker {good}, the newest earlier good version"
            in worker.output())
    with RecommendationClient(ranker_settings, timeout_s=TIMEOUT_S) as client:
        assert all(ranker_of(client, user) == good for user in USERS)
    assert worker.output().count(f"REFUSED ranker {corrupt}") == 1  # tried once, not again
