"""The UCI Online Retail invoice lines as a purchase stream, optionally with London weather.

Columns: InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country;
gzip or plain. Each line with a positive quantity on an invoice not starting with "C" becomes a
PurchaseEvent: ``user_id`` = CustomerID without the ".0" spreadsheets add (``anon-<InvoiceNo>``
when missing: an anonymous basket is its own shopper), ``order_id`` = ``session_id`` = InvoiceNo,
``item_id`` = StockCode, ``price`` = UnitPrice, ``location`` = Country, and
``event_id`` = ``<InvoiceNo>-<line number in the file>``, stable across replays.

Time zone: InvoiceDate is the wall-clock time of a UK shop's till (the 2011 data jump an hour at
the end of March, when Britain moves to BST), so it is read as Europe/London local time and the
events carry that offset. Instants are then right across the clock change, and the calendar day,
which joins the weather, is the shop's own. Dates are read in either form the data set circulates
in: "2010-12-01 08:26:00" (this project's copy) or "12/1/2010 8:26" (the UCI spreadsheet export).

An item's ItemUpsert (title = Description, price = UnitPrice of that line) comes just before its
first purchase, so a consumer never meets an item it cannot describe. Lines that are not
purchases are skipped and counted in ``skipped`` (by reason) once iteration ends; ``lines_read``
counts every invoice line, purchase or not.

>>> import tempfile
>>> csv_path = Path(tempfile.mkdtemp()) / "retail.csv"
>>> _ = csv_path.write_text(
...     "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\\n"
...     "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850.0,EIRE\\n"
...     "C536379,D,Discount,-1,12/1/2010 9:41,27.5,14527.0,United Kingdom\\n")
>>> source = OnlineRetail(csv_path)
>>> [(type(e).__name__, e.ts.isoformat()) for e in source]
[('ItemUpsert', '2010-12-01T08:26:00+00:00'), ('PurchaseEvent', '2010-12-01T08:26:00+00:00')]
>>> source.lines_read, source.skipped
(2, {'cancellation': 1})
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo

from stream.contracts.schemas import Event, ItemUpsert, PurchaseEvent, WeatherEvent
from stream.data.sources.weather import open_text, read_weather

LONDON = ZoneInfo("Europe/London")

COLUMNS = (
    "InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID",
    "Country",
)


class OnlineRetail:
    """Invoice lines of the UCI Online Retail file at ``path``, in file (= time) order.

    ``weather_path``: a daily weather file (see :mod:`stream.data.sources.weather`; the London Heathrow
    one names its days "United Kingdom"), replayed as one WeatherEvent at 00:00 London time for
    each day from the first invoice's day to the last one's, days without trading included.
    """

    name: ClassVar[str] = "online-retail"

    def __init__(self, path: Path, *, weather_path: Path | None = None) -> None:
        self.path = Path(path)
        self.weather_path = None if weather_path is None else Path(weather_path)
        self.lines_read = 0
        self.skipped: dict[str, int] = {}

    def describe(self) -> str:
        weather = f", weather from {self.weather_path}" if self.weather_path else ""
        return f"{self.name}: invoice lines from {self.path}{weather}"

    def __iter__(self) -> Iterator[Event]:
        weather = self._weather_by_day()
        skipped: Counter[str] = Counter()
        self.lines_read, self.skipped = 0, {}
        described: set[str] = set()
        next_weather_day: date | None = None
        with open_text(self.path) as handle:
            reader = csv.DictReader(handle, restval="")  # a short line is invalid, not a crash
            missing = set(COLUMNS) - set(reader.fieldnames or ())
            if missing:
                raise ValueError(f"{self.path}: not Online Retail, it lacks {sorted(missing)}")
            parse_time = _TimeParser()
            for row in reader:
                self.lines_read += 1
                purchase = _purchase(row, reader.line_num, parse_time)
                if isinstance(purchase, str):
                    skipped[purchase] += 1
                    continue
                day = purchase.ts.date()
                if next_weather_day is None:
                    next_weather_day = day
                while next_weather_day <= day:
                    if next_weather_day in weather:
                        yield weather[next_weather_day]
                    next_weather_day += timedelta(days=1)
                if purchase.item_id not in described:
                    described.add(purchase.item_id)
                    title = row["Description"].strip() or None
                    yield ItemUpsert(
                        item_id=purchase.item_id, title=title, price=purchase.price, ts=purchase.ts
                    )
                yield purchase
        self.skipped = dict(skipped)

    def _weather_by_day(self) -> dict[date, WeatherEvent]:
        if self.weather_path is None:
            return {}
        return {event.ts.date(): event for event in read_weather(self.weather_path, tz=LONDON)}


class _TimeParser:
    """InvoiceDate text → London time; the lines of one invoice share a time, so reuse the last."""

    def __init__(self) -> None:
        self._text = ""
        self._value = datetime.min

    def __call__(self, text: str) -> datetime:
        if text != self._text:
            naive = (
                datetime.strptime(text, "%m/%d/%Y %H:%M") if "/" in text
                else datetime.fromisoformat(text)
            )
            self._text, self._value = text, naive.replace(tzinfo=LONDON)
        return self._value


def _purchase(row: dict[str, str], line: int, parse_time: _TimeParser) -> PurchaseEvent | str:
    """The line as a purchase, or the reason it is not one."""
    invoice = row["InvoiceNo"].strip()
    if invoice.upper().startswith("C"):
        return "cancellation"
    try:
        quantity = int(row["Quantity"])
        price = float(row["UnitPrice"])
        if quantity <= 0:
            return "non_positive_quantity"
        if price < 0:
            return "negative_price"
        customer = row["CustomerID"].strip().removesuffix(".0")
        return PurchaseEvent(
            event_id=f"{invoice}-{line}",
            user_id=customer or f"anon-{invoice}",
            order_id=invoice,
            session_id=invoice,
            item_id=row["StockCode"].strip(),
            quantity=quantity,
            price=price,
            location=row["Country"].strip() or None,
            ts=parse_time(row["InvoiceDate"].strip()),
        )
    except ValueError:  # a number or date that does not parse, or a field the contract refuses
        return "invalid"
