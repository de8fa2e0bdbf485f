"""Requests and their replies without Kafka: building a request, handing each reply to whoever
waits for it, timing out whoever waits too long, and the errors a caller sees.

The clients in :mod:`stream.transport.client` are the Kafka shell around this core.
"""

from __future__ import annotations

import heapq
import math
import threading
import time
import uuid
from collections.abc import Callable, Collection
from concurrent.futures import Future, InvalidStateError
from typing import TypedDict

from pydantic import ValidationError

from stream.contracts.codec import InvalidMessage, decode, describe
from stream.contracts.serving import RecommendationReply, RecommendationRequest, ReplyItem
from stream.errors import UserFacingError


class InvalidRequest(UserFacingError, ValueError):
    """An argument breaks the request contract; the message names it. Nothing was sent."""


class RecommendationTimeout(UserFacingError, TimeoutError):
    """No reply came in time (the worker answers a request read after its deadline with an
    error nobody waits for any more)."""

    def __init__(self, request_id: str, timeout_s: float, hint: str = "") -> None:
        super().__init__(f"no reply to recommendation request {request_id} within "
                         f"{timeout_s:g} s" + (f": {hint}" if hint else ""))
        self.request_id = request_id
        self.timeout_s = timeout_s


class RecommendationFailed(UserFacingError, RuntimeError):
    """The worker answered with an error; ``code`` (an ``ErrorCode`` value) says whether asking
    again can help."""

    def __init__(self, code: str, message: str, request_id: str = "") -> None:
        about = f"request {request_id}" if request_id else "request"
        super().__init__(f"recommendation {about} failed ({code}): {message}")
        self.code = code
        self.message = message
        self.request_id = request_id


class RequestOptions(TypedDict, total=False):
    """What a request may say beside its user and ``k``: the user's ``location`` and
    ``device`` now, item ids to ``exclude``, and ``timeout_s`` (the client's default if
    None)."""

    location: str | None
    device: str | None
    exclude: Collection[str]
    timeout_s: float | None


def new_request(user_id: str, k: int, reply_to: str, timeout_s: float, *,
                location: str | None = None, device: str | None = None,
                exclude: Collection[str] = ()) -> RecommendationRequest:
    """A request with a fresh id, due ``timeout_s`` from now, or :class:`InvalidRequest`.

    >>> new_request("u1", 0, "reco.responses", 1.0)
    Traceback (most recent call last):
    ...
    stream.transport.replies.InvalidRequest: invalid RecommendationRequest: k: Input should be greater than or equal to 1
    """
    check_timeout(timeout_s)
    if isinstance(exclude, str | bytes):  # a string is a collection of letters, not of ids
        raise InvalidRequest("exclude: expected a collection of item ids, not one string")
    try:
        return RecommendationRequest.model_validate({
            "request_id": uuid.uuid4().hex, "user_id": user_id, "k": k,
            "context": {"location": location, "device": device},
            "exclude": list(exclude), "reply_to": reply_to,
            "deadline_ms": int(time.time() * 1000 + timeout_s * 1000)})
    except ValidationError as exc:
        raise InvalidRequest(describe(RecommendationRequest, exc)) from None


def check_timeout(timeout_s: float) -> None:
    """Refuse a wait that is not a positive, finite number of seconds."""
    if not (isinstance(timeout_s, int | float) and math.isfinite(timeout_s) and timeout_s > 0):
        raise InvalidRequest(f"timeout_s: expected a positive number of seconds, got {timeout_s!r}")


def items_of(reply: RecommendationReply) -> list[ReplyItem]:
    """The reply's items, or its error as :class:`RecommendationFailed`."""
    if reply.error is not None:
        raise RecommendationFailed(reply.error.code, reply.error.message, reply.request_id)
    return reply.items


class ReplyRouter:
    """Who waits for which reply, and until when: the clients' core, with no Kafka in it.

    Thread-safe: callers register and cancel from any thread while the reply thread delivers.

    >>> router = ReplyRouter(clock=lambda: 0.0)
    >>> waiting = router.expect("r1", timeout_s=1.0)
    >>> router.deliver(b"r2", b"{}")  # another client's reply
    False
    >>> router.deliver(b"r1", b'{"schema_version":1,"request_id":"r1"}')
    True
    >>> waiting.result().items, router.pending
    ([], 0)
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, hint: str = "") -> None:
        self.clock = clock
        self.hint = hint  # what a timeout's message suggests checking
        self._lock = threading.Lock()
        self._waiting: dict[str, tuple[Future[RecommendationReply], float]] = {}
        # (deadline, request id), soonest first. Answered requests stay until their deadline
        # passes: at most one timeout's worth of requests, and no search on each reply.
        self._deadlines: list[tuple[float, str]] = []
        self._closed = False

    @property
    def pending(self) -> int:
        """Requests waiting for their reply."""
        return len(self._waiting)

    def expect(self, request_id: str, timeout_s: float) -> Future[RecommendationReply]:
        """A future for the reply to ``request_id``: call before sending the request, so the
        reply cannot come first. Cancelling it stops the wait."""
        future: Future[RecommendationReply] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the recommendation client is closed")
            if request_id in self._waiting:
                raise ValueError(f"request id {request_id!r} is already waiting")
            self._waiting[request_id] = (future, timeout_s)
            heapq.heappush(self._deadlines, (self.clock() + timeout_s, request_id))
        future.add_done_callback(lambda _: self._pop(request_id))
        return future

    def deliver(self, key: bytes | None, value: bytes | None) -> bool:
        """Hand one record of the reply topic to its waiter; False when nobody here waits for
        it (another client's reply, or one that came after its timeout)."""
        request_id = key.decode("utf-8", "replace") if key else ""
        future = self._pop(request_id)
        if future is None:
            return False
        try:
            outcome: RecommendationReply | BaseException = decode(RecommendationReply, value)
        except InvalidMessage as exc:  # its caller hears at once rather than at its timeout
            outcome = RecommendationFailed("invalid_reply", exc.reason, request_id)
        _settle(future, outcome)
        return True

    def fail(self, request_id: str, error: BaseException) -> None:
        """End one wait with ``error`` (e.g. the request could not be sent)."""
        future = self._pop(request_id)
        if future is not None:
            _settle(future, error)

    def expire(self) -> float | None:
        """Time out every wait past its deadline; return the seconds to the next deadline
        (None: nobody waits)."""
        now = self.clock()
        expired = []
        with self._lock:
            while self._deadlines and self._deadlines[0][0] <= now:
                _, request_id = heapq.heappop(self._deadlines)
                if request_id in self._waiting:
                    expired.append((request_id, *self._waiting.pop(request_id)))
            next_in = self._deadlines[0][0] - now if self._deadlines else None
        for request_id, future, timeout_s in expired:
            _settle(future, RecommendationTimeout(request_id, timeout_s, self.hint))
        return next_in

    def close(self, error: BaseException | None = None) -> None:
        """Take no more requests; cancel every wait, or end it with ``error``."""
        with self._lock:
            self._closed = True
            waiting = [future for future, _ in self._waiting.values()]
            self._waiting.clear()
            self._deadlines.clear()
        for future in waiting:
            if error is None:
                future.cancel()
            else:
                _settle(future, error)

    def _pop(self, request_id: str) -> Future[RecommendationReply] | None:
        with self._lock:
            entry = self._waiting.pop(request_id, None)
        return entry[0] if entry else None


def _settle(future: Future[RecommendationReply],
            outcome: RecommendationReply | BaseException) -> None:
    """Called outside the router's lock: a future's callbacks (an event loop's bridge) run
    here."""
    try:
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
    except InvalidStateError:  # its caller cancelled it meanwhile
        pass
