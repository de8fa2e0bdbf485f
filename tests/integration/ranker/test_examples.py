"""The ranker's training data from the stream itself, through the real stack: a reply's
impression logs the rows of what it showed, the worker labels them by what the user then did,
and `recstream ranker export` writes the file `ranker train` reads."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import numpy as np
import pytest

from models.ranker.table import Examples
from stream.contracts.examples import RankerExample
from stream.contracts.schemas import Impression
from stream.ops.fleet import REPO_ROOT
from stream.ranker.retrain import retrain_every
from stream.settings import Settings
from stream.store.reads import StateReader
from stream.transport.topic_reader import read_topic
from tests.integration.conftest import wait_until
from tests.integration.serving.test_serving import ask, click, items_of, purchase
from tests.integration.traffic import learned, send_raw
from tests.unit.ranker.conftest import synthetic_rows

pytestmark = pytest.mark.integration


def export(settings: Settings, out, *args: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "stream.cli", "ranker", "export", "--out",
                             str(out), *args], cwd=REPO_ROOT, capture_output=True, text=True,
                            env=settings.to_env() | {"PATH": "/usr/bin:/bin"}, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def examples(settings: Settings) -> list[RankerExample]:
    return [RankerExample.model_validate_json(value)
            for _, value in read_topic(settings, settings.topics.examples)]


def test_a_reply_is_labelled_by_what_followed_and_exported_as_rows_to_train_on(
        settings, start_worker, tmp_path):
    worker = start_worker(settings)
    send_raw(settings, [(settings.topics.clicks, user.encode(), click(user, item, m))
                        for m, (user, item) in enumerate([("bob", "tea"), ("bob", "jam"),
                                                          ("cat", "bun"), ("ann", "tea"),
                                                          ("ann", "cup")])])
    wait_until(lambda: learned(settings) >= 4, 60, "the clicks learned", workers=[worker])
    reply = ask(settings, "ann", k=4, request_id="r-ann")
    shown = items_of(reply)
    assert len(shown) >= 2

    [impression] = [i for i in (Impression.model_validate_json(v) for _, v in read_topic(
        settings, settings.topics.impressions)) if i.request_id == "r-ann"]
    assert impression.item_ids == shown
    assert impression.features is not None and len(impression.features) == len(shown)

    reader = StateReader(settings.redis)
    wait_until(lambda: sum(int(reader.learning(p).get("impressions", 0))
                           for p in range(settings.kafka.partitions)) >= 1, 60,
               "the impression to reach ann's shard (the shop's next event comes after it)",
               workers=[worker])
    # ann buys the second item shown; an hour later (past the join's window) she is back.
    bought = shown[1]
    before = learned(settings)
    send_raw(settings, [(settings.topics.purchases, b"ann", purchase("ann", bought, 20, "o-ann"))])
    wait_until(lambda: learned(settings) > before, 60, "the purchase learned", workers=[worker])
    send_raw(settings, [
        (settings.topics.clicks, b"ann", click("ann", "tea", 0).replace(b"T09:", b"T11:")),
        (settings.topics.clicks, b"ann", click("ann", "jam", 1).replace(b"T09:", b"T11:"))])
    wait_until(lambda: len([e for e in examples(settings) if e.request_id == "r-ann"])
               >= len(shown), 60, "every shown item labelled", workers=[worker])
    labelled = {e.item_id: e for e in examples(settings) if e.request_id == "r-ann"}
    assert {item: e.label for item, e in labelled.items()} == {
        item: item == bought for item in shown}
    logged = dict(zip(shown, impression.features.rows(), strict=True))
    assert all((e.ids, e.dense) == tuple(logged[item]) for item, e in labelled.items())

    figures = export(settings, tmp_path / "rows.npz")
    table = Examples.load(tmp_path / "rows.npz")
    assert figures["rows"] == len(table) == len(shown) and figures["positives"] == 1
    assert table.n_requests == 1 and table.label.sum() == 1
    np.testing.assert_array_equal(table.ids[table.label == 1][0], logged[bought][0])


def test_a_replay_through_evaluate_writes_its_scored_lists_as_training_rows(
        settings, start_worker, tmp_path):
    replaying = settings.replace(log_evaluated=True, eval_sample_every=1)
    worker = start_worker(replaying)
    # Every shopper's one order: tea and jam. Once the first ones are learned and broadcast,
    # the lists a newcomer's basket is scored on show what sells: tea and jam.
    orders = [(f"u{n}", item, n) for n in range(8) for item in ("tea", "jam")]
    waves = orders[:8], orders[8:]
    send_raw(settings, [(settings.topics.purchases, user.encode(),
                         purchase(user, item, n, f"{user}-{n}")) for user, item, n in waves[0]])

    def tea_sells() -> bool:
        reply = ask(settings, f"probe-{uuid.uuid4().hex[:6]}", k=5)  # an error while starting
        return "tea" in [item["item_id"] for item in reply["items"]]

    wait_until(tea_sells, 60, "what sells to reach every shard", workers=[worker])
    send_raw(settings, [(settings.topics.purchases, user.encode(),
                         purchase(user, item, n, f"{user}-{n}")) for user, item, n in waves[1]])
    wait_until(lambda: learned(settings) >= len(orders), 60, "the orders learned",
               workers=[worker])
    wait_until(lambda: any(e.label for e in examples(settings)), 60, "a labelled list",
               workers=[worker])
    written = examples(settings)
    assert {e.source for e in written} == {"evaluated"}
    for e in written:
        basket = {e2 for u, e2, n in orders if u == e.user_id}
        assert not e.label or e.item_id in basket
    figures = export(settings, tmp_path / "rows.npz", "--source", "evaluated")
    assert figures["requests"] == len({e.request_id for e in written})


def test_export_says_so_when_there_is_nothing_to_train_on(settings, tmp_path):
    result = subprocess.run([sys.executable, "-m", "stream.cli", "ranker", "export", "--out",
                             str(tmp_path / f"{uuid.uuid4().hex}.npz")], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120,
                            env=settings.to_env() | {"PATH": "/usr/bin:/bin"})
    assert result.returncode != 0
    assert "holds no labelled examples" in result.stderr


def test_the_schedule_trains_on_the_examples_the_stream_labelled(ranker_settings):
    rows = synthetic_rows()
    send_raw(ranker_settings, [
        (ranker_settings.topics.examples, f"q{request}".encode(), RankerExample.of(
            f"q{request}", "ann", f"i{n}", 1294135200000 + int(rows.request_ts[request]) * 1000,
            bool(rows.label[n]), (rows.ids[n], rows.dense[n])).to_json())
        for n, request in enumerate(rows.request.tolist())])
    [report] = collect(ranker_settings)
    assert report["rows"]["rows"] == len(rows) and report["rows"]["requests"] == 400
    data = report["trained"]["data"]
    assert data["train"]["rows"] + data["later"]["rows"] == len(rows)
    assert data["train"]["positives"] + data["later"]["positives"] == int(rows.label.sum())
    assert report["promotion"]["reason"]  # the gate decided, and said why


def collect(settings: Settings) -> list[dict]:
    reports: list[dict] = []
    retrain_every(settings, every_s=0.0, rounds=1, report=reports.append, dataset="stream",
                  from_stream=True)
    return reports
