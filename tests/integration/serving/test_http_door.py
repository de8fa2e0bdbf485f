"""The HTTP door: the same answer as a request on Kafka, for services that can't speak it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.integration.conftest import _free_port, wait_until
from tests.integration.serving.test_serving import click
from tests.integration.traffic import learned, send_raw

pytestmark = pytest.mark.integration


def get(port: int, path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_get_recommendations_answers_like_a_request_on_kafka(settings, start_worker):
    port = _free_port()
    worker = start_worker(settings.replace(worker_web_port=port))
    send_raw(settings, [(settings.topics.clicks, b"ann", click("ann", item, m))
                        for m, item in enumerate(["tea", "jam", "tea"])])
    wait_until(lambda: learned(settings) >= 3, 60, "ann's clicks learned", workers=[worker])

    status, reply = get(port, "/recommendations?user=ann&k=2&timeout_ms=5000")
    assert status == 200 and reply["error"] is None
    assert [item["item_id"] for item in reply["items"]] == ["tea", "jam"]

    status, reply = get(port, "/recommendations?user=ann&k=2&exclude=tea&timeout_ms=5000")
    assert status == 200 and "tea" not in [item["item_id"] for item in reply["items"]]

    status, reply = get(port, "/recommendations?user=ann&k=0")
    assert status == 400 and reply["error"]["code"] == "invalid_request"
    assert "k" in reply["error"]["message"]

    status, spec = get(port, "/openapi.json")
    assert status == 200 and set(spec["paths"]) == {"/recommendations"}
    documented = {p["name"] for p in spec["paths"]["/recommendations"]["get"]["parameters"]}
    assert documented == {"user", "k", "location", "device", "exclude", "timeout_ms"}
