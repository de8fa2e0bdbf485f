"""The ingestor: every record decoded, the bad dead-lettered with their reason, the misrouted
forwarded under the right key, nothing dropped (with the writer and publisher in memory)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from stream.contracts.records import Decoded, Record, signed_origin
from stream.contracts.schemas import ClickEvent, DeadLetter, WeatherEvent
from stream.ingest.ingestor import Ingestor

CLICK = ClickEvent(event_id="e", user_id="ann", item_id="tea", ts=datetime(2011, 1, 1, tzinfo=UTC))


class Applied:
    """Takes what the state writer would apply: everything is fresh."""

    def __init__(self) -> None:
        self.batches: list[list[Decoded]] = []

    async def apply(self, batch: Sequence[Decoded],
                    before_commit: Callable[[list[Decoded]], Awaitable[None]]) -> list[Decoded]:
        await before_commit(list(batch))
        self.batches.append(list(batch))
        return list(batch)

    async def applied_copies(self, origins: Sequence[str]) -> dict[str, str]:
        return {}  # no copy applied before


class Sent:
    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []
        self.forwarded: list[tuple[str, bytes, bytes, str]] = []

    async def dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        self.letters.extend(letters)

    async def forward(self, records: Sequence[tuple[str, bytes, bytes, str]]) -> None:
        self.forwarded.extend(records)


def ingest(*records: Record, max_bytes: int = 1024) -> tuple[list[Decoded], Applied, Sent]:
    writer, sent = Applied(), Sent()
    ingestor = Ingestor({"clicks": ClickEvent, "weather": WeatherEvent}, writer,  # type: ignore[arg-type]
                        sent, max_bytes)
    return asyncio.run(ingestor.process(records)), writer, sent


def test_a_valid_event_under_its_key_is_applied_and_nothing_is_sent():
    decoded, writer, sent = ingest(Record("clicks", 0, 0, b"ann", CLICK.to_json()))
    assert decoded[0].event == CLICK and writer.batches == [decoded]
    assert (sent.letters, sent.forwarded) == ([], [])


def test_a_bad_record_becomes_a_dead_letter_with_its_bytes_and_reason():
    raw = b'{"schema_version":1,"event_id":"e","user_id":"ann"}'
    decoded, _, sent = ingest(Record("clicks", 2, 7, b"ann", raw))
    letter, = sent.letters
    assert decoded[0].event is None and letter.reason == decoded[0].reason
    assert "item_id" in letter.reason and letter.original() == raw
    assert (letter.source_topic, letter.partition, letter.offset) == ("clicks", 2, 7)


def test_an_oversized_or_empty_record_is_a_dead_letter_too():
    _, _, sent = ingest(Record("clicks", 0, 0, b"ann", b"x" * 2000),
                              Record("clicks", 0, 1, b"ann", None))
    assert [letter.reason.split(":")[0] for letter in sent.letters] == [
        "oversized", "empty message (null value)"]


def test_an_event_under_another_key_is_forwarded_under_its_own_not_applied():
    decoded, _, sent = ingest(Record("clicks", 0, 0, b"bob", CLICK.to_json()),
                              Record("clicks", 0, 1, None, CLICK.to_json()))
    assert all(d.event is None and d.misrouted == CLICK for d in decoded)
    assert sent.forwarded == [("clicks", b"ann", CLICK.to_json(), "clicks:0:0"),
                              ("clicks", b"ann", CLICK.to_json(), "clicks:0:1")]
    assert sent.letters == []


def test_an_event_dated_after_the_brokers_clock_allows_is_a_dead_letter():
    appended = int(CLICK.ts.timestamp() * 1000)
    soon = CLICK.model_copy(update={"ts": CLICK.ts.replace(minute=59)})
    late = CLICK.model_copy(update={"ts": CLICK.ts.replace(year=2100)})
    decoded, _, sent = ingest(Record("clicks", 0, 0, b"ann", soon.to_json(), appended),
                              Record("clicks", 0, 1, b"ann", late.to_json(), appended))
    assert decoded[0].event is not None  # 59 minutes ahead: within the hour allowed
    assert decoded[1].event is None and decoded[1].reason.startswith("ts_in_future")
    assert [letter.offset for letter in sent.letters] == [1]


def test_an_event_dated_after_the_broker_appended_it_is_dated_when_the_broker_did():
    """A producer's clock running ahead must not move a shard's clock (and with it every
    impression's time, label window and trend) ahead of the world."""
    appended = int(CLICK.ts.timestamp() * 1000)
    soon = CLICK.model_copy(update={"ts": CLICK.ts.replace(minute=59)})
    earlier = CLICK.model_copy(update={"ts": CLICK.ts.replace(year=2010)})
    decoded, _, _ = ingest(Record("clicks", 0, 0, b"ann", soon.to_json(), appended),
                           Record("clicks", 0, 1, b"ann", earlier.to_json(), appended))
    assert decoded[0].event == soon.model_copy(update={"ts": CLICK.ts})
    assert decoded[1].event == earlier  # an event from the past keeps its time: replays
    assert [d.redated for d in decoded] == [True, False]  # counted for the operator


def test_a_user_event_on_another_partition_than_its_keys_goes_to_its_keys_partition():
    writer, sent = Applied(), Sent()
    ingestor = Ingestor({"clicks": ClickEvent}, writer, sent, 1024,  # type: ignore[arg-type]
                        partition_of=lambda key: 1, user_keyed={"clicks"})
    on_1, on_3 = (Record("clicks", p, 0, b"ann", CLICK.to_json()) for p in (1, 3))
    decoded = asyncio.run(ingestor.process([on_1, on_3]))
    assert decoded[0].event == CLICK and decoded[1].misrouted == CLICK
    assert [(topic, key) for topic, key, _, _ in sent.forwarded] == [("clicks", b"ann")]


def test_a_copy_whose_origin_the_fleet_did_not_sign_is_a_dead_letter():
    """Any producer can set the header: unsigned, it could suppress the record it names."""
    key = b"k" * 32
    writer, sent = Applied(), Sent()
    ingestor = Ingestor({"clicks": ClickEvent}, writer, sent, 1024,  # type: ignore[arg-type]
                        origin_key=key)
    value = CLICK.to_json()
    signed = Record("clicks", 0, 0, b"ann", value, origin=signed_origin("clicks:3:17", value, key))
    forged = Record("clicks", 0, 1, b"ann", value, origin="clicks:3:18|0123")
    moved = Record("clicks", 0, 2, b"ann", value + b" ",
                   origin=signed_origin("clicks:3:19", value, key))  # the header, other bytes
    decoded = asyncio.run(ingestor.process([signed, forged, moved]))
    assert decoded[0].event == CLICK and decoded[0].record.origin == "clicks:3:17"
    assert [d.reason.split(":")[0] for d in decoded[1:]] == ["forged_origin", "forged_origin"]
    assert len(sent.letters) == 2
