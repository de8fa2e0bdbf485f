"""Public session data sets (clicks, views, carts, orders) as time-ordered recstream events.

These files are ordered by session, not by time, and a stream must be ordered by time: each source
reads its file into light tuples, sorts them by timestamp (Python's sort is stable, so events with
the same timestamp keep their file order) and builds the events while yielding. Memory therefore
grows with the file; the samples here are small, and a full data set is better pre-sorted.

Data sets without users (YooChoose, OTTO, anonymous Diginetica sessions) use ``s<session>`` as
the user: a session is the only identity they have. Ids are built from the content,
``<prefix>-<kind>-<session>-<epoch ms>-<item>`` (``-2``, ``-3`` ... for exact repeats), so the
same click gets the same id in a time-split file (YooChoose ``train_tr``) and in the file it was
split from (``train_full``).

* ``yoochoose``: session-rec layout, tab-separated ``SessionId ItemId Time`` (unix seconds).
* ``retailrocket``: tab-separated ``timestamp user_id item_id session_id``; timestamps in seconds
  or milliseconds (told by size: RetailRocket's own export uses milliseconds).
* ``diginetica``: ``;``-separated views (``session_id;user_id;item_id;timeframe;eventdate``) or
  purchases (``sessionId;userId;timeframe;eventdate;ordernumber;itemId``, PurchaseEvents with
  quantity 1, price 0 and the file's order number, since it has no basket details).
  ``timeframe`` is milliseconds since the session's first query and ``eventdate`` the event's own
  day (one purchase session in the file runs from 2016-02-02 at timeframe 0.02 days to 2016-04-24
  at 82 days), while the session's start time is not given. So ts = eventdate 00:00 UTC +
  (timeframe modulo one day): the day is the recorded one, and order within a session's day is
  kept. For views, whose timeframes stay under a day, this is the usual eventdate + timeframe.
  ``categories_path`` (``itemId;categoryId``) adds an ItemUpsert with the category before an item's
  first event.
* ``otto``: JSON lines ``{"session", "events": [{"aid", "ts" (ms), "type"}]}``. ``clicks`` become
  ClickEvents; ``carts`` ClickEvents too, marked with the extra field ``action="cart"`` (the
  contract keeps extra fields), so a consumer that knows carts can weigh them and one that does
  not still learns from a click; ``orders`` become PurchaseEvents (quantity 1, price 0), one order
  per session and timestamp, since OTTO records an order's items with one time.

>>> import tempfile
>>> path = Path(tempfile.mkdtemp()) / "clicks.txt"
>>> _ = path.write_text("SessionId\\tItemId\\tTime\\n"
...                     "2\\t7\\t1396871797.614\\n1\\t9\\t1396860669.277\\n")
>>> [(e.event_id, e.user_id, e.ts.isoformat()) for e in YooChoose(path)]
[('yc-click-1-1396860669277-9', 's1', '2014-04-07T08:51:09.277000+00:00'), \
('yc-click-2-1396871797614-7', 's2', '2014-04-07T11:56:37.614000+00:00')]
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import ClassVar, NamedTuple

from stream.contracts.schemas import ClickEvent, Event, ItemUpsert, PurchaseEvent
from stream.data.sources.weather import open_text

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Unix time in seconds passes 1e11 only in the year 5138; in milliseconds it passed it in 1973.
_MILLIS_FROM = 10**11
_DAY_MS = 86_400_000


class _Row(NamedTuple):
    """One event before it becomes a model: cheap to hold and sort by the thousand."""

    ms: int
    kind: str  # "click", "cart" or "order"
    session: str
    user: str
    item: str
    order: str = ""  # purchases only


class _SessionFile:
    """Base of the loaders: subclasses say how to read rows; sorting and events live here."""

    name: ClassVar[str]
    id_prefix: ClassVar[str]

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def describe(self) -> str:
        return f"{self.name}: sessions from {self.path}"

    def _rows(self) -> Iterable[_Row]:
        raise NotImplementedError

    def _item_upsert(self, item: str, ts: datetime) -> ItemUpsert | None:
        """What to announce before an item's first event; nothing unless a catalogue is known."""
        return None

    def __iter__(self) -> Iterator[Event]:
        rows = sorted(self._rows(), key=lambda row: row.ms)
        announced: set[str] = set()
        ids_at_ms: dict[str, int] = {}  # repeats can only share an id within one millisecond
        previous_ms = None
        for row in rows:
            if row.ms != previous_ms:
                ids_at_ms.clear()
                previous_ms = row.ms
            event_id = f"{self.id_prefix}-{row.kind}-{row.session}-{row.ms}-{row.item}"
            repeat = ids_at_ms[event_id] = ids_at_ms.get(event_id, 0) + 1
            if repeat > 1:
                event_id = f"{event_id}-{repeat}"
            ts = _EPOCH + timedelta(milliseconds=row.ms)
            if row.item not in announced:
                announced.add(row.item)
                upsert = self._item_upsert(row.item, ts)
                if upsert is not None:
                    yield upsert
            yield _event(row, event_id, ts)


def _event(row: _Row, event_id: str, ts: datetime) -> Event:
    if row.kind == "order":
        return PurchaseEvent(event_id=event_id, user_id=row.user, item_id=row.item, ts=ts,
                             session_id=row.session, order_id=row.order, quantity=1, price=0.0)
    click = ClickEvent(event_id=event_id, user_id=row.user, item_id=row.item, ts=ts,
                       session_id=row.session)
    # model_copy puts an unknown key among the extra fields, as parsing a wire message would.
    return click if row.kind == "click" else click.model_copy(update={"action": row.kind})


class YooChoose(_SessionFile):
    """YooChoose (RecSys Challenge 2015) clicks in the session-rec layout."""

    name: ClassVar[str] = "yoochoose"
    id_prefix: ClassVar[str] = "yc"

    def _rows(self) -> Iterator[_Row]:
        for row in _table(self.path, "\t", ("SessionId", "ItemId", "Time")):
            session = row["SessionId"]
            ms = round(float(row["Time"]) * 1000)
            yield _Row(ms, "click", session, f"s{session}", row["ItemId"])


class RetailRocket(_SessionFile):
    """RetailRocket views, sessionized (one row per view, with the visitor and the session)."""

    name: ClassVar[str] = "retailrocket"
    id_prefix: ClassVar[str] = "rr"

    def _rows(self) -> Iterator[_Row]:
        columns = ("timestamp", "user_id", "item_id", "session_id")
        for row in _table(self.path, "\t", columns):
            stamp = float(row["timestamp"])
            ms = round(stamp if stamp >= _MILLIS_FROM else stamp * 1000)
            yield _Row(ms, "click", row["session_id"], row["user_id"], row["item_id"])


class Diginetica(_SessionFile):
    """Diginetica (CIKM Cup 2016) item views or purchases, with optional item categories."""

    name: ClassVar[str] = "diginetica"
    id_prefix: ClassVar[str] = "dg"

    def __init__(self, path: Path, *, categories_path: Path | None = None) -> None:
        super().__init__(path)
        self.categories_path = None if categories_path is None else Path(categories_path)

    @cached_property
    def categories(self) -> dict[str, str]:
        """Item id → category id from ``categories_path`` (read once, on first use)."""
        if self.categories_path is None:
            return {}
        return {
            row["itemId"]: row["categoryId"]
            for row in _table(self.categories_path, ";", ("itemId", "categoryId"))
        }

    def _item_upsert(self, item: str, ts: datetime) -> ItemUpsert | None:
        category = self.categories.get(item)
        return None if category is None else ItemUpsert(item_id=item, category=category, ts=ts)

    def _rows(self) -> Iterator[_Row]:
        with open_text(self.path) as handle:
            header = handle.readline()
        purchases = "ordernumber" in header
        # The two files spell the same columns differently (session_id / sessionId).
        session, user, item = ("sessionId", "userId", "itemId") if purchases else (
            "session_id", "user_id", "item_id")
        columns = (session, user, item, "timeframe", "eventdate")
        for row in _table(self.path, ";", columns):
            day = date.fromisoformat(row["eventdate"])
            ms = (day - _EPOCH.date()).days * _DAY_MS + int(row["timeframe"]) % _DAY_MS
            user_id = row[user] if row[user] not in ("", "NA") else f"s{row[session]}"
            if purchases:
                yield _Row(ms, "order", row[session], user_id, row[item], row["ordernumber"])
            else:
                yield _Row(ms, "click", row[session], user_id, row[item])


class Otto(_SessionFile):
    """OTTO (Kaggle 2022) sessions of clicks, carts and orders, one JSON object per session."""

    name: ClassVar[str] = "otto"
    id_prefix: ClassVar[str] = "otto"
    _KINDS: ClassVar[dict[str, str]] = {"clicks": "click", "carts": "cart", "orders": "order"}

    def _rows(self) -> Iterator[_Row]:
        with open_text(self.path) as handle:
            for line_number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                record = json.loads(line)
                session = str(record["session"])
                for event in record["events"]:
                    kind = self._KINDS.get(event["type"])
                    if kind is None:
                        raise ValueError(
                            f"{self.path}:{line_number}: unknown OTTO event type {event['type']!r}"
                        )
                    ms = int(event["ts"])
                    order = f"{session}-{ms}" if kind == "order" else ""
                    yield _Row(ms, kind, session, f"s{session}", str(event["aid"]), order)


def _table(path: Path, delimiter: str, columns: tuple[str, ...]) -> Iterator[dict[str, str]]:
    """Rows of a delimited file with a header, after checking it has the columns we read."""
    with open_text(path) as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        missing = set(columns) - set(reader.fieldnames or ())
        if missing:
            raise ValueError(
                f"{path}: expected columns {list(columns)} separated by {delimiter!r}; "
                f"missing {sorted(missing)} (header: {reader.fieldnames})"
            )
        yield from reader
