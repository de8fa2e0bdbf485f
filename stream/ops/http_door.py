"""The HTTP door: ``GET /recommendations`` on a worker's web port, for services that can't
speak Kafka.

The door does not answer from this worker's shards: it asks over ``reco.requests`` like any
client, so the request reaches the worker that holds the user (whichever that is), takes the
same path and the same rules, and is logged as the same impression. The door adds one Kafka round
trip (measured by ``recstream bench serve``) and gives one URL for every user on every worker.
``GET /openapi.json`` describes it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import faust

from stream.contracts.serving import MAX_K, ErrorCode, failed
from stream.settings import Settings
from stream.transport.client import AsyncRecommendationClient
from stream.transport.replies import InvalidRequest, RecommendationTimeout

# The HTTP status of each error code of a reply.
STATUS = {ErrorCode.INVALID_REQUEST: 400, ErrorCode.DEADLINE_EXCEEDED: 504,
          ErrorCode.UNAVAILABLE: 503, ErrorCode.INTERNAL: 500}
_REPLY_REF = {"$ref": "#/components/schemas/RecommendationReply"}
# The longest a caller may hold the door open for one answer (the documented maximum).
MAX_TIMEOUT_MS = 600_000

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "recstream", "version": "1",
             "description": "Recommendations from the worker that holds the user's fresh "
                            "state; the same answer as a request on reco.requests."},
    "paths": {"/recommendations": {"get": {
        "summary": "The best k items for a user now",
        "parameters": [
            {"name": "user", "in": "query", "required": True,
             "schema": {"type": "string", "minLength": 1, "maxLength": 128}},
            {"name": "k", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                    "maximum": MAX_K, "default": 10}},
            {"name": "location", "in": "query",
             "schema": {"type": "string", "minLength": 1, "maxLength": 64}},
            {"name": "device", "in": "query", "schema": {
                "type": "string", "enum": ["desktop", "mobile", "tablet", "app", "other"]}},
            {"name": "exclude", "in": "query", "description": "comma-separated item ids",
             "schema": {"type": "string"}},
            {"name": "timeout_ms", "in": "query", "description": "how long to wait",
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_TIMEOUT_MS}},
        ],
        "responses": {
            "200": {"description": "the reply; `error` is null",
                    "content": {"application/json": {"schema": _REPLY_REF}}},
            "400": {"description": "invalid_request: the message names the parameter",
                    "content": {"application/json": {"schema": _REPLY_REF}}},
            "503": {"description": "unavailable: the user's partition is moving; ask again",
                    "content": {"application/json": {"schema": _REPLY_REF}}},
            "504": {"description": "deadline_exceeded or no reply within timeout_ms",
                    "content": {"application/json": {"schema": _REPLY_REF}}},
            "500": {"description": "internal: the models failed on this request",
                    "content": {"application/json": {"schema": _REPLY_REF}}},
        }}}},
    "components": {"schemas": {
        "RecommendationReply": {"type": "object", "required": [
            "schema_version", "request_id", "items", "model_versions", "timings_ms", "degraded",
            "error"], "properties": {
            "schema_version": {"type": "integer"},
            "request_id": {"type": "string"},
            "items": {"type": "array", "items": {"type": "object", "required": [
                "item_id", "score"], "properties": {
                "item_id": {"type": "string"}, "score": {"type": "number"},
                "source": {"type": "string", "nullable": True}}}},
            "model_versions": {"type": "object", "additionalProperties": {"type": "string"}},
            "timings_ms": {"type": "object", "additionalProperties": {"type": "number"}},
            "degraded": {"type": "array", "items": {"type": "string"}},
            "error": {"type": "object", "nullable": True, "required": ["code", "message"],
                      "properties": {"code": {"type": "string", "enum": [
                          c.value for c in ErrorCode]}, "message": {"type": "string"}}},
        }}}},
}


def open_door(app: faust.App, settings: Settings) -> AsyncRecommendationClient:
    """Add the door's pages to the app; return its client (connected at the first request)."""
    client = AsyncRecommendationClient(settings)

    @app.page("/recommendations")
    async def recommendations(web: Any, request: Any) -> Any:
        try:
            user, k, options = parameters(request.query)
            reply = await client.request(user, k, **options)
        except InvalidRequest as exc:
            return web.json(_error(ErrorCode.INVALID_REQUEST, str(exc)), status=400)
        except RecommendationTimeout as exc:
            return web.json(_error(ErrorCode.DEADLINE_EXCEEDED, str(exc)), status=504)
        status = 200 if reply.error is None else STATUS[reply.error.code]
        return web.json(json.loads(reply.to_json()), status=status)

    @app.page("/openapi.json")
    async def openapi(web: Any, request: Any) -> Any:
        return web.json(OPENAPI)

    return client


def parameters(query: Mapping[str, str]) -> tuple[str, int, dict[str, Any]]:
    """The user, k and the client's options of a query string, or :class:`InvalidRequest`
    naming the parameter (the rest of the request is checked as any client's is).

    >>> parameters({"user": "ann", "exclude": "tea,,jam", "timeout_ms": "250"})
    ('ann', 10, {'location': None, 'device': None, 'exclude': ['tea', 'jam'], 'timeout_s': 0.25})
    >>> parameters({"user": "ann", "timeout_ms": "86400000"})
    Traceback (most recent call last):
    ...
    stream.transport.replies.InvalidRequest: timeout_ms: expected an integer from 1 to 600000, got '86400000'
    """
    options: dict[str, Any] = {
        "location": query.get("location"), "device": query.get("device"),
        "exclude": [i for i in query.get("exclude", "").split(",") if i]}
    if "timeout_ms" in query:
        options["timeout_s"] = _integer(query, "timeout_ms", 1, MAX_TIMEOUT_MS) / 1000
    return query.get("user", ""), _integer(query, "k", 1, MAX_K, default=10), options


def _integer(query: Mapping[str, str], name: str, low: int, high: int,
             default: int | None = None) -> int:
    """An integer parameter within [low, high]: a door held open for days by one caller, or a
    message naming Python's ``int()`` instead of the parameter, is what this keeps out."""
    raw = query.get(name)
    if raw is None and default is not None:
        return default
    try:
        value: int | None = int(raw or "")
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise InvalidRequest(f"{name}: expected an integer from {low} to {high}, got {raw!r}")
    return value


def _error(code: ErrorCode, message: str) -> dict[str, Any]:
    """A reply-shaped error for what failed before a request could be sent."""
    return json.loads(failed("", code, message).to_json())
