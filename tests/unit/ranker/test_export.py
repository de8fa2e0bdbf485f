"""The examples topic as the trainer's table: one row per shown item, hostile records skipped."""

from __future__ import annotations

import numpy as np

from models.ranker.features import BUCKETS, DENSE, FIELDS
from stream.contracts.examples import RankerExample
from stream.ranker.export import table_of

IDS = [field * BUCKETS + 1 for field in range(len(FIELDS))]
ALL = frozenset({"served", "evaluated"})


def example(request: str, item: str, minute: int, label: bool, source: str = "served",
            signal: float = 0.0) -> bytes:
    return RankerExample.of(request, "ann", item, 1294135200000 + minute * 60_000, label,
                            (IDS, [signal] * len(DENSE)), source=source).to_json()


def test_impressions_are_numbered_in_time_order_and_keep_their_rows_together():
    table, counts = table_of([example("late", "tea", 9, True), example("early", "jam", 1, False),
                              example("late", "bun", 9, False)], ALL)
    assert table is not None
    assert table.request.tolist() == [0, 1, 1]
    assert table.label.tolist() == [0, 1, 0]
    assert table.n_requests == 2 and counts["read"] == 3


def test_an_example_written_twice_is_one_row_the_last():
    table, counts = table_of([example("r1", "tea", 1, False, signal=0.1),
                              example("r1", "tea", 1, True, signal=0.2)], ALL)
    assert table is not None and len(table) == 1
    assert table.label.tolist() == [1]
    np.testing.assert_allclose(table.dense[0], 0.2)
    assert counts["duplicates"] == 1


def test_records_that_are_no_examples_are_counted_and_skipped():
    table, counts = table_of([b"not json", b'{"schema_version": 1}', b"",
                              example("r1", "tea", 1, True)], ALL)
    assert table is not None and len(table) == 1
    assert counts["invalid"] == 3


def test_a_source_can_be_chosen():
    values = [example("r1", "tea", 1, True), example("e1", "jam", 2, True, "evaluated")]
    table, counts = table_of(values, frozenset({"evaluated"}))
    assert table is not None and len(table) == 1 and counts["other_source"] == 1


def test_nothing_valid_is_no_table():
    assert table_of([b"{}"], ALL)[0] is None
