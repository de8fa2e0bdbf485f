"""The serving contracts: a recommendation request and its reply, JSON on Kafka.

A request is keyed by ``user_id`` on ``reco.requests`` (so it lands on the partition of the
user's events, DESIGN decision 2); its reply goes to ``reply_to`` keyed by ``request_id``. A reply
always comes: with items, or with an ``error`` saying why not. docs/contract.md has the tables.

>>> request = RecommendationRequest.model_validate_json(
...     '{"schema_version":1,"request_id":"r1","user_id":"u1","k":5,'
...     '"context":{"location":"UK"},"reply_to":"shop.replies"}')
>>> request.k, request.context.location, request.exclude, request.deadline_ms
(5, 'UK', [], None)
>>> reply = RecommendationReply(request_id="r1", items=[ReplyItem(item_id="tea", score=0.9,
...                             source="repeat")])
>>> reply.to_json()
b'{"schema_version":1,"request_id":"r1","items":[{"item_id":"tea","score":0.9,"source":"repeat"}],"model_versions":{},"timings_ms":{},"degraded":[],"error":null}'
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from stream.contracts.schemas import Contract, Device, Id, Location, Text

# A list longer than this is no recommendation any page shows, and it bounds the work a
# request may ask for.
MAX_K = 200
# Kafka's rule for a topic name: what a reply_to may hold.
TopicName = Annotated[str, StringConstraints(min_length=1, max_length=249,
                                             pattern=r"^[A-Za-z0-9._\-]+$")]


class RequestContext(BaseModel):
    """Where the user is now; the worker fills what is missing (the profile's location, the
    latest weather there)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    location: Location | None = None
    device: Device | None = None


class RecommendationRequest(Contract):
    """Ask for ``k`` items for a user; the reply goes to ``reply_to``.

    ``deadline_ms`` is an absolute time in epoch milliseconds (the asker's clock: it knows how
    long it can wait, Kafka's queueing included). A request read after it is answered at once
    with an ``deadline_exceeded`` error, never silently dropped.
    """

    key_field: ClassVar[str] = "user_id"
    request_id: Id
    user_id: Id
    k: int = Field(10, ge=1, le=MAX_K)
    context: RequestContext = Field(default_factory=RequestContext)
    exclude: list[Id] = Field(default_factory=list, max_length=1000)
    reply_to: TopicName
    deadline_ms: int | None = Field(None, ge=0, le=10**14)


class ReplyItem(BaseModel):
    """One recommended item; ``source`` names the candidate source that proposed it."""

    model_config = ConfigDict(frozen=True)
    item_id: Id
    score: float = Field(allow_inf_nan=False)
    source: Annotated[str, StringConstraints(max_length=32)] | None = None


class ErrorCode(StrEnum):
    INVALID_REQUEST = "invalid_request"  # the request itself is wrong: do not send it again
    DEADLINE_EXCEEDED = "deadline_exceeded"  # read after its deadline: ask again if still useful
    UNAVAILABLE = "unavailable"  # this worker could not answer now (e.g. partitions moving)
    INTERNAL = "internal"  # a bug; the reason is in the worker's log and the dead letter


class ReplyError(BaseModel):
    model_config = ConfigDict(frozen=True)
    code: ErrorCode
    message: Text


class RecommendationReply(Contract):
    """The answer to one request: the items, or an error; never both empty and silent.

    ``request_id`` is the request's (empty when a malformed request had none that could be
    read: the reply's key is then the request's ``topic:partition:offset``). ``degraded`` names
    what was missing and answered around (``no_history``: the user is new, trending answered).
    """

    request_id: Annotated[str, StringConstraints(max_length=128)]
    items: list[ReplyItem] = Field(default_factory=list)
    model_versions: dict[str, Text] = Field(default_factory=dict)
    timings_ms: dict[str, float] = Field(default_factory=dict)
    degraded: list[Text] = Field(default_factory=list)
    error: ReplyError | None = None

    def to_json(self) -> bytes:
        """Every field, ``"error": null`` included: a reader checks one field for success."""
        return self.model_dump_json().encode()


def failed(request_id: str, code: ErrorCode, message: str) -> RecommendationReply:
    """An error reply."""
    return RecommendationReply(request_id=request_id[:128],
                               error=ReplyError(code=code, message=message[:512]))


def addressing(raw: bytes | None) -> tuple[str | None, str | None]:
    """The request id and reply topic of a request that failed validation, each if it can be
    read and is valid: its error reply then reaches the asker, who hears at once."""
    try:
        value = json.loads(raw) if raw else None
    except (ValueError, RecursionError):
        return None, None
    if not isinstance(value, dict):
        return None, None
    rid, topic = value.get("request_id"), value.get("reply_to")
    try:
        topic = _TopicCheck(topic=topic).topic
    except ValueError:
        topic = None
    return (rid if isinstance(rid, str) and 0 < len(rid) <= 128 else None), topic


class _TopicCheck(BaseModel):
    topic: TopicName
