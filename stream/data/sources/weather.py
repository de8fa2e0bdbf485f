"""Daily weather files as WeatherEvents: one per place and day, at local midnight.

Weather is context, not a fact about the shop, so it enters the stream as the day begins: a worker
that sees a click has already seen the weather of that click's day. Three layouts are read, told
apart by their header:

* london-weather (ECA&D, London Heathrow): ``date`` YYYYMMDD, ``cloud_cover`` (oktas),
  ``sunshine``, ``mean_temp``, ``min_temp``, ``max_temp``, ``precipitation`` (mm),
  ``snow_depth`` (cm) ...; it has no condition column, so :func:`condition_from_measurements`
  derives one. It describes London, so its location defaults to ``"United Kingdom"``, the country
  name the Online Retail data uses.
* vega-datasets ``seattle-weather.csv``: ``date`` YYYY-MM-DD, ``precipitation``, ``temp_max``,
  ``temp_min``, ``wind``, ``weather`` (a word); no location, so the caller names it.
* vega-datasets ``weather_seattle_newyork.csv``: the same plus a ``location`` column; the
  ``location`` option then selects one place instead of naming it.

Missing values: a day with no temperature at all is left out (a consumer keeps the previous day's
weather, which is the best guess it has); missing precipitation, cloud cover or snow depth count as
none, so they never invent rain or snow.

>>> condition_from_measurements(precip_mm=3.2, mean_temp=8.0, cloud_cover=7, snow_depth=None)
<WeatherCondition.RAIN: 'rain'>
>>> condition_from_measurements(precip_mm=0.4, mean_temp=-1.0, cloud_cover=8, snow_depth=0)
<WeatherCondition.SNOW: 'snow'>
"""

from __future__ import annotations

import csv
import gzip
from datetime import UTC, date, datetime, time, tzinfo
from pathlib import Path
from typing import TextIO

from stream.contracts.schemas import WeatherCondition, WeatherEvent

LONDON_LOCATION = "United Kingdom"

# The UK Met Office counts a "wet day" from 1 mm: lighter totals are a passing shower that does not
# change what people buy.
RAIN_MM = 1.0
# Cloud cover is in oktas (eighths of the sky); 6/8 and above is what forecasts call "cloudy".
CLOUDY_OKTAS = 6.0

# vega-datasets words; our own condition names are accepted too, so a file written by recstream
# reads back. Drizzle is light rain: it is what sells umbrellas, so it maps to RAIN.
_WORDS: dict[str, WeatherCondition] = {
    "drizzle": WeatherCondition.RAIN,
    "sun": WeatherCondition.CLEAR,
} | {condition.value: condition for condition in WeatherCondition}


def open_text(path: Path) -> TextIO:
    """Open a text data file, gzip or plain: told by its magic bytes, since users rename files."""
    with open(path, "rb") as probe:
        compressed = probe.read(2) == b"\x1f\x8b"
    if compressed:
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def condition_from_measurements(
    *, precip_mm: float, mean_temp: float, cloud_cover: float | None, snow_depth: float | None
) -> WeatherCondition:
    """Name the day's weather from station measurements, first rule that holds wins.

    snow lying (``snow_depth > 0``) or any precipitation at or below 0 °C → SNOW;
    ``precip_mm >= 1`` → RAIN; ``cloud_cover >= 6`` oktas → CLOUDY; otherwise CLEAR.
    """
    if (snow_depth or 0.0) > 0 or (precip_mm > 0 and mean_temp <= 0):
        return WeatherCondition.SNOW
    if precip_mm >= RAIN_MM:
        return WeatherCondition.RAIN
    if cloud_cover is not None and cloud_cover >= CLOUDY_OKTAS:
        return WeatherCondition.CLOUDY
    return WeatherCondition.CLEAR


def read_weather(
    path: Path, *, location: str | None = None, tz: tzinfo = UTC
) -> list[WeatherEvent]:
    """All weather days in ``path`` as events at 00:00 in ``tz``, sorted by time then location.

    ``tz`` is the local time of the stream the weather joins (Europe/London for Online Retail), so
    that "the 3rd of May" starts when the shop's 3rd of May starts.
    """
    with open_text(path) as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        if "cloud_cover" in columns:
            place = location or LONDON_LOCATION
            days = [_london_day(row, place) for row in reader]
        elif "weather" in columns:
            if location is None and "location" not in columns:
                raise ValueError(f"{path} has no location column: pass location=...")
            days = [
                _worded_day(row, location or row["location"])
                for row in reader
                if location is None or row.get("location", location) == location
            ]
        else:
            raise ValueError(
                f"{path}: unknown weather layout (columns {sorted(columns)}); expected the "
                "london-weather columns (date, cloud_cover, mean_temp, precipitation, ...) or "
                "date, precipitation, temp_max, temp_min, weather"
            )
    events = [
        WeatherEvent(
            event_id=f"weather-{place}-{day.isoformat()}",
            location=place,
            ts=datetime.combine(day, time(), tzinfo=tz),
            temp_c=temp_c,
            precip_mm=precip_mm,
            condition=condition,
        )
        for day, place, temp_c, precip_mm, condition in filter(None, days)
    ]
    return sorted(events, key=lambda event: (event.ts, event.location))


_Day = tuple[date, str, float, float, WeatherCondition]


def _london_day(row: dict[str, str], place: str) -> _Day | None:
    temp_c = _number(row, "mean_temp")
    if temp_c is None:
        temp_c = _midpoint(_number(row, "min_temp"), _number(row, "max_temp"))
    if temp_c is None:
        return None
    precip_mm = _number(row, "precipitation") or 0.0
    condition = condition_from_measurements(
        precip_mm=precip_mm,
        mean_temp=temp_c,
        cloud_cover=_number(row, "cloud_cover"),
        snow_depth=_number(row, "snow_depth"),
    )
    day = datetime.strptime(row["date"], "%Y%m%d").date()
    return day, place, temp_c, precip_mm, condition


def _worded_day(row: dict[str, str], place: str) -> _Day | None:
    temp_c = _midpoint(_number(row, "temp_min"), _number(row, "temp_max"))
    if temp_c is None:
        return None
    word = row["weather"].strip().lower()
    try:
        condition = _WORDS[word]
    except KeyError:
        raise ValueError(f"unknown weather word {word!r} on {row['date']}") from None
    precip_mm = _number(row, "precipitation") or 0.0
    return date.fromisoformat(row["date"]), place, temp_c, precip_mm, condition


def _number(row: dict[str, str], column: str) -> float | None:
    text = (row.get(column) or "").strip()
    return float(text) if text and text.upper() != "NA" else None


def _midpoint(low: float | None, high: float | None) -> float | None:
    known = [value for value in (low, high) if value is not None]
    return round(sum(known) / len(known), 2) if known else None
