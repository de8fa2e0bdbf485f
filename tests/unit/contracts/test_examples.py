"""Logged feature rows and ranker examples on the wire: every number is checked."""

from __future__ import annotations

import json

import pytest

from models.ranker.features import BUCKETS, DENSE, FIELDS
from stream.contracts.codec import InvalidMessage, decode
from stream.contracts.examples import RankerExample
from stream.contracts.schemas import Impression

IDS = [field * BUCKETS + 1 for field in range(len(FIELDS))]
DENSE_ROW = [0.5] * len(DENSE)


def impression(**features: object) -> bytes:
    return json.dumps({"schema_version": 1, "request_id": "r1", "user_id": "ann",
                       "item_ids": ["tea", "jam"], "ts": 1294135200000,
                       "features": features}).encode()


def test_an_impression_logs_one_row_per_item():
    shown = decode(Impression, impression(ids=[IDS, IDS], dense=[DENSE_ROW, DENSE_ROW]))
    assert shown.features is not None and len(shown.features.rows()) == 2


@pytest.mark.parametrize(("features", "reason"), [
    ({"ids": [IDS], "dense": [DENSE_ROW]}, "features log 1 rows for 2 items"),
    ({"ids": [IDS, IDS], "dense": [DENSE_ROW]}, "2 id rows but 1 dense rows"),
    ({"ids": [IDS, IDS[:-1]], "dense": [DENSE_ROW, DENSE_ROW]}, "not one per field"),
    ({"ids": [IDS, [BUCKETS, *IDS[1:]]], "dense": [DENSE_ROW, DENSE_ROW]},
     "outside field user's range"),
    ({"ids": [IDS, [-1, *IDS[1:]]], "dense": [DENSE_ROW, DENSE_ROW]},
     "outside field user's range"),
    ({"ids": [IDS, IDS], "dense": [DENSE_ROW, [1e300, *DENSE_ROW[1:]]]},
     "not a finite signal"),
])
def test_a_row_that_is_not_the_rankers_input_makes_the_impression_invalid(features, reason):
    with pytest.raises(InvalidMessage, match=reason):
        decode(Impression, impression(**features))


def test_nan_in_a_logged_row_is_refused():
    payload = impression(ids=[IDS, IDS], dense=[DENSE_ROW, DENSE_ROW]).replace(
        b"0.5]]", b"NaN]]")
    with pytest.raises(InvalidMessage):
        decode(Impression, payload)


def test_an_example_round_trips_and_checks_its_row():
    example = RankerExample.of("r1", "ann", "tea", 1294135200000, True, (IDS, DENSE_ROW))
    assert RankerExample.model_validate_json(example.to_json()) == example
    with pytest.raises(ValueError, match="outside field item's range"):
        RankerExample.of("r1", "ann", "tea", 1294135200000, True, ([1] * len(FIELDS),
                                                                     DENSE_ROW))
