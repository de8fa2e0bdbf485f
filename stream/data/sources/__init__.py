"""Where events come from when no shop is attached: a simulator and public data sets.

A source is a plain, re-iterable iterable of contract events in non-decreasing ``ts`` order; it
knows nothing of Kafka, so ``recstream replay`` (which sends, paces and limits) and the offline
evaluation read the same streams. Iterating again starts the stream again.

>>> from itertools import islice
>>> source = open_source("synthetic", None, seed=1, users=2, items=3, days=1)
>>> source.name, isinstance(source, Source)
('synthetic', True)
>>> [type(event).__name__ for event in islice(source, 6)]
['ItemUpsert', 'ItemUpsert', 'ItemUpsert', 'UserProfile', 'UserProfile', 'WeatherEvent']
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from stream.contracts.schemas import Event
from stream.data.sources.online_retail import OnlineRetail
from stream.data.sources.sessions import Diginetica, Otto, RetailRocket, YooChoose
from stream.data.sources.synthetic import SyntheticShop

__all__ = ["SOURCE_NAMES", "Source", "open_source"]


@runtime_checkable
class Source(Protocol):
    """Events in ts order: ItemUpsert, UserProfile, WeatherEvent, ClickEvent, PurchaseEvent."""

    @property
    def name(self) -> str:
        """The name open_source knows the source by."""
        ...

    def __iter__(self) -> Iterator[Event]: ...

    def describe(self) -> str:
        """One line for logs and ``recstream replay``: what is read, from where, with what."""
        ...


_FILE_SOURCES: dict[str, Callable[..., Source]] = {
    OnlineRetail.name: OnlineRetail,
    YooChoose.name: YooChoose,
    RetailRocket.name: RetailRocket,
    Diginetica.name: Diginetica,
    Otto.name: Otto,
}
SOURCE_NAMES: tuple[str, ...] = (SyntheticShop.name, *_FILE_SOURCES)


def open_source(name: str, path: Path | None = None, **options: Any) -> Source:
    """The source called ``name`` (one of SOURCE_NAMES) reading ``path``, with its own options.

    Options: synthetic ``seed, users, items, days, events, start``; online-retail
    ``weather_path``; diginetica ``categories_path``. A missing file fails here, naming it, rather
    than after a producer has been set up.
    """
    if name == SyntheticShop.name:
        if path is not None:
            raise ValueError(f"the synthetic source simulates its events and reads no file: {path}")
        return SyntheticShop(**options)
    if name not in _FILE_SOURCES:
        raise ValueError(f"unknown source {name!r}; choose one of {', '.join(SOURCE_NAMES)}")
    if path is None:
        raise ValueError(f"the {name} source reads a file: give its path")
    for file in (path, *(value for key, value in options.items() if key.endswith("_path"))):
        if file is not None and not Path(file).is_file():
            raise FileNotFoundError(f"{name}: no such file {file}")
    return _FILE_SOURCES[name](Path(path), **options)
