"""`recstream evaluate --ranker VERSION`: the worker of the run re-ranks with a registered
version announced on the run's own ``models.control``, the table says so, and the baskets after
a moment are counted alike for every system."""

from __future__ import annotations

import pytest

from models.base import Interaction
from stream.errors import UserFacingError
from stream.evaluate.run import format_table, interactions, load_events, run_evaluation
from stream.ranker import commands
from stream.ranker.export import table_of
from stream.transport.topic_reader import read_topic

pytestmark = pytest.mark.integration
pytest.importorskip("torch", reason="training needs the train extra, which CI installs")

# The synthetic shop's catalogue and users come first (about 3,000 events), then some 3,000
# clicks and purchases: a run of well under a minute.
LIMIT = 6_000


def test_the_workers_of_an_evaluation_rerank_with_the_version_named(ranker_settings,
                                                                    rows_file):
    version = commands.train_version(ranker_settings, rows_file, epochs=1,
                                     batch_size=2048)["version"]
    events, location = load_events("synthetic", None, LIMIT)
    lines = [x for x in interactions(events, location) if isinstance(x, Interaction)]
    middle = lines[len(lines) // 2].ts

    # Paced, so the worker reads clicks and purchases in their order: produced at once, a loaded
    # machine could hand one topic's batch over before the other's (6% fewer targets once).
    result = run_evaluation(ranker_settings, "synthetic", limit=LIMIT, ranker=version,
                            after=middle, timeout_s=300, rate=2_000)

    worker, twin = f"recstream + ranker {version}", f"recstream-in-process + ranker {version}"
    assert list(result["systems"])[:1] == [worker] and twin in result["systems"]
    assert "recstream" not in result["systems"] and result["ranker"] == version
    # The baskets after the moment: the same ones in-process. The worker reads the second part
    # while it is produced; sent in one piece it counts the same targets, but a loaded machine
    # can still split the piece (1 to 5% fewer, clicks read after the purchases they led to,
    # when each topic's batch was sent apart), so within 2%.
    counted = {name: m["n"] for name, m in result["after"]["systems"].items()}
    in_process = {n for name, n in counted.items() if name != worker}
    assert len(in_process) == 1 and 0 < min(in_process) < result["targets"], counted
    assert abs(counted[worker] / min(in_process) - 1) < 0.02, counted
    table = format_table(result)
    assert f"{worker} worker against {twin}:" in table and "\nbaskets after " in table
    assert any(line.startswith(worker) for line in table.splitlines())
    # The lists the worker scored are training data: one impression per scored basket.
    rows, counts = table_of((value for _, value in read_topic(
        ranker_settings, result["examples_topic"])), frozenset({"evaluated"}))
    assert rows is not None and counts["invalid"] == counts["other_source"] == 0
    assert 100 < rows.n_requests < result["targets"] and 0 < rows.label.sum() < len(rows)


def test_a_version_that_is_not_registered_fails_before_anything_runs(ranker_settings):
    with pytest.raises(UserFacingError, match="no ranker version 'r9'"):
        run_evaluation(ranker_settings, "synthetic", limit=LIMIT, ranker="r9")
