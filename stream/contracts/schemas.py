"""The wire contracts: pydantic models, JSON on the wire, a schema version in every message.

Producers may add fields before consumers know them (``extra="allow"`` keeps them), but the fields
named here are checked strictly: ids are non-empty strings, timestamps carry an offset (or are epoch
milliseconds), prices and quantities are non-negative and enums hold known values.

>>> click = ClickEvent.model_validate_json(
...     '{"schema_version":1,"event_id":"e1","user_id":"u1","item_id":"i9",'
...     '"ts":"2011-01-04T10:00:00+00:00","referrer":"mail"}')
>>> click.item_id, click.ts.year, click.model_extra
('i9', 2011, {'referrer': 'mail'})
>>> ClickEvent.model_validate({"schema_version": 1, "event_id": "e", "user_id": "u",
...                            "item_id": "i", "ts": 1294135200000}).ts.isoformat()
'2011-01-04T10:00:00+00:00'
"""

from __future__ import annotations

import base64
import hashlib
import math
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from models.ranker.features import BUCKETS, DENSE, FIELDS

SCHEMA_VERSION = 1

Id = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Text = Annotated[str, StringConstraints(max_length=512)]
Location = Annotated[str, StringConstraints(min_length=1, max_length=64)]


def _epoch_millis_to_datetime(value: Any) -> Any:
    """Accept epoch milliseconds beside ISO-8601; bools are not timestamps."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)  # "1294135200000" is milliseconds too, not a unit pydantic guesses
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"epoch milliseconds out of range: {value!r}") from None
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_epoch_millis_to_datetime)]


class Device(StrEnum):
    DESKTOP = "desktop"
    MOBILE = "mobile"
    TABLET = "tablet"
    APP = "app"
    OTHER = "other"


class WeatherCondition(StrEnum):
    CLEAR = "clear"
    CLOUDY = "cloudy"
    RAIN = "rain"
    SNOW = "snow"
    STORM = "storm"
    FOG = "fog"


class Contract(BaseModel):
    """Base of every message: versioned, extra fields kept, immutable once parsed."""

    model_config = ConfigDict(extra="allow", frozen=True)

    schema_version: int = SCHEMA_VERSION

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value != SCHEMA_VERSION:
            raise ValueError(f"unknown schema_version {value} (this build reads {SCHEMA_VERSION})")
        return value

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


class Event(Contract):
    """A fact from the shop or the world, with its time and the key it is partitioned by."""

    key_field: ClassVar[str]
    ts: Timestamp

    @property
    def key(self) -> str:
        return getattr(self, self.key_field)


class ClickEvent(Event):
    key_field: ClassVar[str] = "user_id"
    event_id: Id
    user_id: Id
    item_id: Id
    session_id: Id | None = None
    location: Location | None = None
    device: Device | None = None


class PurchaseEvent(Event):
    key_field: ClassVar[str] = "user_id"
    event_id: Id
    user_id: Id
    order_id: Id
    item_id: Id
    quantity: int = Field(ge=0, le=1_000_000)
    price: float = Field(ge=0, le=1e9, allow_inf_nan=False)
    session_id: Id | None = None
    location: Location | None = None
    device: Device | None = None


class WeatherEvent(Event):
    key_field: ClassVar[str] = "location"
    location: Location
    temp_c: float = Field(ge=-90, le=60, allow_inf_nan=False)
    precip_mm: float = Field(ge=0, le=2000, allow_inf_nan=False)
    condition: WeatherCondition
    event_id: Id | None = None


class ItemUpsert(Event):
    """The catalogue's current view of an item (compacted topic: the latest per item wins)."""

    key_field: ClassVar[str] = "item_id"
    item_id: Id
    title: Text | None = None
    category: Annotated[str, StringConstraints(max_length=128)] | None = None
    price: float | None = Field(None, ge=0, le=1e9, allow_inf_nan=False)
    in_stock: bool = True


class UserProfile(Event):
    """What the shop knows of a user (compacted topic: the latest per user wins)."""

    key_field: ClassVar[str] = "user_id"
    user_id: Id
    location: Location | None = None
    segment: Annotated[str, StringConstraints(max_length=64)] | None = None


# A dense signal is scaled to a few units (models/ranker/features.py); far beyond is an error.
DENSE_LIMIT = 1e6


def check_row(ids: list[int], dense: list[float], where: str = "") -> None:
    """Raise unless ``ids`` has a hashed id per field of the ranker's input, each in its field's
    range of the embedding table, and ``dense`` a finite signal of bounded size per signal."""
    if len(ids) != len(FIELDS):
        raise ValueError(f"ids{where} has {len(ids)} values, not one per field {FIELDS}")
    if len(dense) != len(DENSE):
        raise ValueError(f"dense{where} has {len(dense)} values, not one per signal {DENSE}")
    for field, value in enumerate(ids):
        low = field * BUCKETS
        if not low <= value < low + BUCKETS:
            raise ValueError(f"ids{where}[{field}] = {value} is outside field "
                             f"{FIELDS[field]}'s range [{low}, {low + BUCKETS})")
    for signal, number in enumerate(dense):
        if not (math.isfinite(number) and abs(number) <= DENSE_LIMIT):
            raise ValueError(f"dense{where}[{signal}] = {number} is not a finite signal of at "
                             f"most {DENSE_LIMIT:g}")


class FeatureRows(Contract):
    """The ranker's inputs (:mod:`models.ranker.features`) for the items of an impression, one
    row each in the list's order, as the server computed them when it showed the list (feature
    logging: a ranker trains on what serving saw, not on features recomputed later).

    >>> FeatureRows(ids=[[BUCKETS] * len(FIELDS)], dense=[[0.0] * len(DENSE)])
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for FeatureRows
      Value error, ids[0][0] = 16384 is outside field user's range [0, 16384) ...
    """

    ids: list[list[int]] = Field(max_length=500)
    dense: list[list[float]] = Field(max_length=500)

    def __len__(self) -> int:
        return len(self.ids)

    @model_validator(mode="after")
    def _rows(self) -> Self:
        if len(self.ids) != len(self.dense):
            raise ValueError(f"{len(self.ids)} id rows but {len(self.dense)} dense rows")
        for n, (ids, dense) in enumerate(zip(self.ids, self.dense, strict=True)):
            check_row(ids, dense, f"[{n}]")
        return self

    def rows(self) -> list[tuple[list[int], list[float]]]:
        return list(zip(self.ids, self.dense, strict=True))


class Impression(Event):
    """What a user was shown: written by the serving path, joined with clicks for labels;
    ``features``, when logged, has one row per item."""

    key_field: ClassVar[str] = "user_id"
    request_id: Id
    user_id: Id
    item_ids: list[Id] = Field(min_length=1, max_length=500)
    location: Location | None = None
    model_version: Text | None = None
    features: FeatureRows | None = None

    @model_validator(mode="after")
    def _one_row_per_item(self) -> Self:
        if self.features is not None and len(self.features) != len(self.item_ids):
            raise ValueError(f"features log {len(self.features)} rows for "
                             f"{len(self.item_ids)} items")
        return self


# Bytes of a rejected payload a dead letter keeps. JSON escaping can make text up to six times
# longer (a control character becomes \u0000), so 64 KiB of text stays under 400 KB, and a
# longer payload keeps its first 64 KiB as base64 (88 KB): a letter always fits the producer's
# and the broker's 1 MiB limits, whatever it carries.
DEAD_LETTER_KEPT_BYTES = 64 * 1024
# Reasons and keys are cut too: they may quote the input.
DEAD_LETTER_TEXT_CHARS = 2_000


class DeadLetter(Contract):
    """An input that could not be used, kept for an operator, readable by any Kafka client.

    A payload longer than :data:`DEAD_LETTER_KEPT_BYTES` is cut (``payload_truncated``); its
    whole size and SHA-256 identify it in the source topic.

    >>> letter = DeadLetter.wrap(b"x" * 100_000, topic="t", partition=0, offset=1, reason="big")
    >>> letter.payload_truncated, letter.payload_size, len(letter.original())
    (True, 100000, 65536)
    >>> len(letter.to_json()) < 100_000
    True
    """

    source_topic: str
    partition: int
    offset: int
    reason: str
    payload: str
    payload_encoding: Literal["utf-8", "base64"]
    payload_size: int | None = None  # bytes of the whole payload
    payload_sha256: str | None = None  # of the whole payload
    payload_truncated: bool = False
    key: str | None = None
    ts: Timestamp

    @classmethod
    def wrap(
        cls, raw: bytes, *, topic: str, partition: int, offset: int, reason: str,
        key: bytes | None = None,
    ) -> DeadLetter:
        kept = raw[:DEAD_LETTER_KEPT_BYTES]
        # A cut payload goes as base64: the cut may split a character.
        text = _utf8(raw) if len(kept) == len(raw) else None
        payload: str = base64.b64encode(kept).decode("ascii") if text is None else text
        encoding: Literal["utf-8", "base64"] = "base64" if text is None else "utf-8"
        return cls(
            source_topic=topic, partition=partition, offset=offset,
            reason=reason[:DEAD_LETTER_TEXT_CHARS], payload=payload, payload_encoding=encoding,
            payload_size=len(raw), payload_sha256=hashlib.sha256(raw).hexdigest(),
            payload_truncated=len(kept) < len(raw),
            key=(key.decode("utf-8", "backslashreplace")[:DEAD_LETTER_TEXT_CHARS]
                 if key is not None else None),
            ts=datetime.now(UTC),
        )

    @property
    def source(self) -> str:
        """The rejected record, ``<topic>:<partition>:<offset>``: the letter's Kafka key, so a
        letter sent again after a crash is recognisable as the same one."""
        return f"{self.source_topic}:{self.partition}:{self.offset}"

    def original(self) -> bytes:
        """The rejected bytes (their first DEAD_LETTER_KEPT_BYTES when ``payload_truncated``)."""
        if self.payload_encoding == "base64":
            return base64.b64decode(self.payload)
        return self.payload.encode("utf-8")


def _utf8(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def reason_kind(reason: str | None) -> str:
    """What a dead letter's reason counts under: its words before the first ``:`` (the reasons
    are written by recstream, e.g. ``invalid ClickEvent: ...``, ``ts_in_future: ...``).

    >>> reason_kind("invalid ClickEvent: user_id: Field required"), reason_kind(None)
    ('invalid ClickEvent', 'invalid')
    """
    return (reason or "invalid").split(":", 1)[0][:100]
