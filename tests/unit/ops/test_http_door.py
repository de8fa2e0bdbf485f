"""The HTTP door's query string: every bad parameter is refused by name, before anything is
sent, and no caller holds the door open past the documented maximum."""

from __future__ import annotations

import pytest

from stream.ops.http_door import MAX_TIMEOUT_MS, OPENAPI, parameters
from stream.transport.replies import InvalidRequest


def test_a_query_with_only_the_user_asks_for_ten_with_the_clients_timeout():
    user, k, options = parameters({"user": "ann"})
    assert (user, k) == ("ann", 10) and "timeout_s" not in options


@pytest.mark.parametrize(("query", "named"), [
    ({"k": "abc"}, "k"), ({"k": "0"}, "k"), ({"k": "201"}, "k"), ({"k": ""}, "k"),
    ({"timeout_ms": "0"}, "timeout_ms"), ({"timeout_ms": "-5"}, "timeout_ms"),
    ({"timeout_ms": "2.5"}, "timeout_ms"), ({"timeout_ms": str(MAX_TIMEOUT_MS + 1)}, "timeout_ms"),
])
def test_a_bad_number_is_refused_naming_its_parameter(query, named):
    with pytest.raises(InvalidRequest, match=f"^{named}: expected an integer from 1 to "):
        parameters({"user": "ann", **query})


def test_the_longest_wait_allowed_is_the_one_documented():
    timeout = next(p for p in OPENAPI["paths"]["/recommendations"]["get"]["parameters"]
                   if p["name"] == "timeout_ms")
    assert timeout["schema"]["maximum"] == MAX_TIMEOUT_MS
    assert parameters({"user": "ann", "timeout_ms": str(MAX_TIMEOUT_MS)})[2]["timeout_s"] == 600
