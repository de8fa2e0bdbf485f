"""The internal topics' messages: any bytes may arrive, and none may stop a worker."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from models.embeddings import ItemStep
from stream.contracts.internal import (
    InvalidInternal,
    ScopeBest,
    decode_broadcast,
    decode_scope,
    decode_steps,
    encode_scope,
    encode_steps,
    encode_vector,
    scope_key,
)
from stream.contracts.records import Record

GOOD = json.loads(encode_steps(0, {"clicks": 3}, [
    ItemStep("tea", 1.0, 1.0, np.ones(2, dtype=np.float32), ("clicks", 2))]))


def variant(**changes: object) -> bytes:
    return json.dumps({**GOOD, **changes}).encode()


@pytest.mark.parametrize("raw", [
    b"", b"\xff\xfe", b"[]", b"null", b'{"src": 0}', b"[" * 100_000,
    variant(src="zero"), variant(wm={"clicks": "3"}), variant(dim=-1), variant(dim=10**9),
    variant(vecs="not base64!"), variant(vecs=base64.b64encode(b"abc").decode()),
    variant(steps=[["clicks", 2, "tea", 1.0, 1.0, 5, None, None]]),  # row not in the message
    variant(steps=[["clicks", 2, "tea", "NaN", 1.0, 0, None, None]]),
    variant(steps=[["clicks", 2, 7, 1.0, 1.0, 0, None, None]]),
    variant(steps=[["clicks", 2, "tea"]]),
    variant(vecs=base64.b64encode(np.array([np.nan, 1], dtype="<f4").tobytes()).decode()),
])
def test_a_malformed_step_message_is_refused_with_a_reason(raw):
    with pytest.raises(InvalidInternal, match="invalid item-step message"):
        decode_steps(raw)


def test_a_well_formed_step_message_decodes():
    message = decode_steps(variant())
    assert (message.source, message.watermark, message.steps[0].item_id) == (0, {"clicks": 3}, "tea")


@pytest.mark.parametrize("raw", [b"[1, 2, 3]", b'[0, 1, {"tea": "x"}, []]',
                                 b'[0, 1, {"tea": 1}, [7]]', b"[NaN, 1, {}, []]"])
def test_a_malformed_trending_part_is_refused(raw):
    with pytest.raises(InvalidInternal):
        decode_scope(raw)


def test_the_broadcast_keeps_what_decodes_and_rejects_the_rest_with_reasons():
    vector = encode_vector(np.ones(4, dtype=np.float32), 5.0)
    part = encode_scope(ScopeBest(0.0, 1.0, {"tea": 1.0}, []))
    records = [
        Record("vec", 0, 0, b"tea", vector),
        Record("vec", 0, 1, b"jam", None),  # a removed item
        Record("vec", 0, 2, b"bad", b"\x00\x01"),  # too short for a clock
        Record("vec", 0, 3, None, vector),  # no key
        Record("vec", 0, 4, b"nan", encode_vector(np.array([np.inf], dtype=np.float32), 1.0)),
        Record("trend", 0, 0, scope_key(1, "global"), part),
        Record("trend", 0, 1, b"not json", part),
        Record("trend", 0, 2, scope_key(1, "location=Leeds"), None),  # shard 1 dropped the scope
    ]
    changes = decode_broadcast(records, "vec")
    assert [item for item, _ in changes.vectors] == ["tea", "jam"]
    assert [(source, scope, part is None) for source, scope, part in changes.scopes] == [
        (1, "global", False), (1, "location=Leeds", True)]
    assert [record.offset for record, _ in changes.rejected] == [2, 3, 4, 1]
    assert all(reason.startswith("invalid") for _, reason in changes.rejected)
