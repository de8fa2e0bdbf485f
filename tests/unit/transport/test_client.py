"""The clients' reply routing, without Kafka: each reply reaches the caller waiting for its
request id, other clients' replies are ignored, and nobody waits past their timeout."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import CancelledError

import pytest

from stream.contracts.serving import ErrorCode, RecommendationReply, ReplyItem, failed
from stream.transport.replies import (
    InvalidRequest,
    RecommendationFailed,
    RecommendationTimeout,
    ReplyRouter,
    items_of,
    new_request,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def reply(request_id: str, *items: str) -> tuple[bytes, bytes]:
    """A reply record as the worker writes it: keyed by the request id."""
    body = RecommendationReply(request_id=request_id, items=[
        ReplyItem(item_id=item, score=1.0 / rank, source="trending")
        for rank, item in enumerate(items, 1)])
    return request_id.encode(), body.to_json()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def router(clock: Clock) -> ReplyRouter:
    return ReplyRouter(clock=clock, hint="is a worker running?")


def test_a_reply_reaches_the_caller_waiting_for_its_request_id(router):
    waiting = router.expect("r1", timeout_s=1.0)
    assert router.deliver(*reply("r1", "tea", "cup"))
    assert [item.item_id for item in waiting.result(timeout=0).items] == ["tea", "cup"]
    assert router.pending == 0


def test_many_requests_in_flight_each_get_their_own_reply_in_any_order(router):
    waiting = {f"r{i}": router.expect(f"r{i}", timeout_s=1.0) for i in range(50)}
    for request_id in reversed(list(waiting)):
        router.deliver(*reply(request_id, f"item-of-{request_id}"))
    for request_id, future in waiting.items():
        assert future.result(timeout=0).items[0].item_id == f"item-of-{request_id}"


def test_replies_to_other_clients_requests_are_ignored(router):
    waiting = router.expect("mine", timeout_s=1.0)
    assert not router.deliver(*reply("theirs", "tea"))
    assert not router.deliver(None, b"{}")  # a malformed request's reply, keyed otherwise
    assert not waiting.done() and router.pending == 1


def test_a_request_with_no_reply_in_time_times_out_naming_its_id_and_the_wait(router, clock):
    waiting = router.expect("r1", timeout_s=0.5)
    clock.now += 0.4
    assert router.expire() == pytest.approx(0.1)  # the reply thread wakes then
    assert not waiting.done()
    clock.now += 0.1
    assert router.expire() is None
    with pytest.raises(RecommendationTimeout, match=r"request r1 within 0.5 s: is a worker") as e:
        waiting.result(timeout=0)
    assert (e.value.request_id, e.value.timeout_s) == ("r1", 0.5)


def test_a_reply_after_the_timeout_is_ignored(router, clock):
    waiting = router.expect("r1", timeout_s=0.5)
    clock.now += 1
    router.expire()
    assert not router.deliver(*reply("r1", "tea"))
    assert isinstance(waiting.exception(timeout=0), RecommendationTimeout)


def test_an_answered_request_does_not_time_out_later(router, clock):
    waiting = router.expect("r1", timeout_s=0.5)
    router.deliver(*reply("r1", "tea"))
    clock.now += 1
    router.expire()
    assert waiting.result(timeout=0).items


def test_an_error_reply_is_a_reply_and_recommend_raises_its_code_and_message(router):
    waiting = router.expect("r1", timeout_s=1.0)
    router.deliver(b"r1", failed("r1", ErrorCode.DEADLINE_EXCEEDED, "read 3 ms late").to_json())
    answer = waiting.result(timeout=0)
    assert answer.error is not None and answer.error.code == ErrorCode.DEADLINE_EXCEEDED
    with pytest.raises(RecommendationFailed, match=r"request r1 failed \(deadline_exceeded\): "
                                                   r"read 3 ms late") as e:
        items_of(answer)
    assert e.value.code == "deadline_exceeded"


def test_a_reply_that_cannot_be_read_fails_its_caller_at_once(router):
    waiting = router.expect("r1", timeout_s=1.0)
    assert router.deliver(b"r1", b'{"request_id": 7')
    with pytest.raises(RecommendationFailed, match="invalid_reply"):
        waiting.result(timeout=0)


def test_a_request_that_could_not_be_sent_fails_with_the_reason(router):
    waiting = router.expect("r1", timeout_s=1.0)
    router.fail("r1", ConnectionError("broker gone"))
    with pytest.raises(ConnectionError, match="broker gone"):
        waiting.result(timeout=0)


def test_a_caller_that_cancels_stops_waiting(router):
    waiting = router.expect("r1", timeout_s=1.0)
    assert waiting.cancel()
    assert router.pending == 0
    assert not router.deliver(*reply("r1", "tea"))


def test_closing_cancels_every_wait_and_refuses_new_ones(router):
    waiting = router.expect("r1", timeout_s=1.0)
    router.close()
    with pytest.raises(CancelledError):
        waiting.result(timeout=0)
    with pytest.raises(RuntimeError, match="closed"):
        router.expect("r2", timeout_s=1.0)


def test_an_async_caller_awaits_the_same_router_fed_from_the_reply_thread(router):
    async def ask() -> RecommendationReply:
        waiting = asyncio.wrap_future(router.expect("r1", timeout_s=1.0))
        threading.Thread(target=router.deliver, args=reply("r1", "tea")).start()
        return await asyncio.wait_for(waiting, 5)

    assert asyncio.run(ask()).items[0].item_id == "tea"


def test_a_request_has_a_fresh_id_its_deadline_and_the_reply_topic():
    first = new_request("ann", 5, "shop.replies", 2.0, location="UK", device="mobile",
                        exclude=["tea"])
    second = new_request("ann", 5, "shop.replies", 2.0)
    assert first.request_id != second.request_id and len(first.request_id) == 32
    assert (first.user_id, first.k, first.reply_to, first.exclude) == (
        "ann", 5, "shop.replies", ["tea"])
    assert (first.context.location, first.context.device) == ("UK", "mobile")
    assert first.deadline_ms is not None and second.deadline_ms is not None
    assert abs(first.deadline_ms - second.deadline_ms) < 1000


@pytest.mark.parametrize(("arguments", "named"), [
    ({"user_id": ""}, "user_id"),
    ({"k": 0}, "k"),
    ({"k": 10_000}, "k"),
    ({"device": "toaster"}, "context.device"),
    ({"reply_to": "no spaces"}, "reply_to"),
    ({"exclude": "tea"}, "exclude"),
    ({"timeout_s": 0}, "timeout_s"),
    ({"timeout_s": float("inf")}, "timeout_s"),
])
def test_a_bad_argument_is_refused_naming_it(arguments, named):
    given = {"user_id": "ann", "k": 5, "reply_to": "reco.responses", "timeout_s": 1.0}
    options = {**given, **arguments}
    with pytest.raises(InvalidRequest, match=rf"^(invalid RecommendationRequest: )?{named}:"):
        new_request(options.pop("user_id"), options.pop("k"), options.pop("reply_to"),
                    options.pop("timeout_s"), **options)
