"""`recstream replay`: send a source's events to Kafka, as fast as possible or paced.

Pacing is either a fixed ``rate`` (events per second) or the events' own timestamps compressed by
``speedup`` (a day of shop traffic in 1/speedup of a day). Both sleep only when ahead of schedule,
so a slow broker makes the replay late, never lossy.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from stream.contracts.schemas import ClickEvent, Event, PurchaseEvent
from stream.data.sources import SOURCE_NAMES, Source, open_source
from stream.errors import UserFacingError
from stream.settings import Settings
from stream.transport.producer import EventProducer


def paced(events: Iterable[Event], *, rate: float | None = None,
          speedup: float | None = None, clock: Any = time) -> Iterator[Event]:
    """Yield events no faster than ``rate`` per second or than their timestamps / ``speedup``."""
    if rate is not None and speedup is not None:
        raise UserFacingError("give --rate or --speedup, not both")
    if (rate is not None and rate <= 0) or (speedup is not None and speedup <= 0):
        raise UserFacingError("--rate and --speedup must be positive")
    start = clock.monotonic()
    first_ts: float | None = None
    for n, event in enumerate(events):
        if rate is not None:
            due = start + n / rate
        elif speedup is not None:
            ts = event.ts.timestamp()
            first_ts = ts if first_ts is None else first_ts
            due = start + (ts - first_ts) / speedup
        else:
            due = start
        delay = due - clock.monotonic()
        if delay > 0:
            clock.sleep(delay)
        yield event


def source_events(source: str, path: Path | None = None, weather: Path | None = None,
                  seed: int = 7) -> Source:
    """The events of a source as ``replay`` sends them (with ``describe()``), or a clear error."""
    if source not in SOURCE_NAMES:
        raise UserFacingError(f"unknown source {source!r}; choose one of {', '.join(SOURCE_NAMES)}")
    options: dict[str, Any] = {}
    if source == "synthetic":
        options["seed"] = seed
    if weather is not None:
        if source != "online-retail":
            raise UserFacingError("--weather is merged into the online-retail source only")
        options["weather_path"] = weather
    try:
        return open_source(source, path, **options)
    except (ValueError, FileNotFoundError) as exc:
        raise UserFacingError(str(exc)) from None


def replay(settings: Settings, *, source: str, path: Path | None = None,
           weather: Path | None = None, limit: int | None = None, rate: float | None = None,
           speedup: float | None = None, seed: int = 7, progress: bool = True,
           producer: EventProducer | None = None) -> dict[str, Any]:
    """Replay ``source`` through the producer SDK; return a summary of what was sent."""
    events = source_events(source, path, weather, seed)
    stream: Iterable[Event] = islice(events, limit) if limit is not None else events
    stream = paced(stream, rate=rate, speedup=speedup)
    if progress:
        from tqdm import tqdm

        stream = tqdm(stream, total=limit, unit="ev", desc=f"replay {source}", mininterval=0.5)

    kinds: Counter[str] = Counter()
    users: Counter[str] = Counter()
    started = time.perf_counter()
    own_producer = producer is None
    shop = producer or EventProducer(settings)
    try:
        for event in stream:
            shop.send(event)
            kinds[type(event).__name__] += 1
            if isinstance(event, (ClickEvent, PurchaseEvent)):
                users[event.user_id] += 1
        shop.flush()
    finally:
        if own_producer:
            shop.flush()
    elapsed = time.perf_counter() - started
    sent = sum(kinds.values())
    return {
        "source": source,
        "described": events.describe(),
        "sent": sent,
        "by_kind": dict(kinds),
        "seconds": round(elapsed, 3),
        "events_per_s": round(sent / elapsed, 1) if elapsed > 0 else None,
        "most_active_user_id": users.most_common(1)[0][0] if users else None,
    }
