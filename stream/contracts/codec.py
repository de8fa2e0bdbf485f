"""Bytes to contracts and back, with a reason an operator can act on when it fails.

>>> from stream.contracts.schemas import WeatherEvent
>>> decode(WeatherEvent, b'{"schema_version":1,"location":"UK","ts":"2011-01-01T00:00:00Z",'
...        b'"temp_c":"warm","precip_mm":0,"condition":"clear"}')
Traceback (most recent call last):
...
stream.contracts.codec.InvalidMessage: invalid WeatherEvent: temp_c: Input should be a valid number, unable to parse string as a number
>>> decode(WeatherEvent, b'{"oops', max_bytes=1024)
Traceback (most recent call last):
...
stream.contracts.codec.InvalidMessage: invalid JSON: EOF while parsing a string at line 1 column 6
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import ValidationError

from stream.contracts.schemas import Contract

C = TypeVar("C", bound=Contract)

DEFAULT_MAX_BYTES = 64 * 1024


class InvalidMessage(ValueError):
    """A message that no consumer can use; ``reason`` says why in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode(model: type[C], raw: bytes | None, *, max_bytes: int = DEFAULT_MAX_BYTES) -> C:
    """Parse and validate one message, or raise :class:`InvalidMessage`."""
    if raw is None:
        raise InvalidMessage("empty message (null value)")
    if len(raw) > max_bytes:
        raise InvalidMessage(f"oversized: {len(raw)} bytes, the limit is {max_bytes}")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidMessage(describe(model, exc)) from None


def describe(model: type[Contract], exc: ValidationError) -> str:
    """One line naming every failing field, pydantic's wording kept."""
    errors = exc.errors(include_url=False)
    if errors and errors[0]["type"] == "json_invalid":
        return "invalid JSON: " + errors[0]["ctx"]["error"]
    if errors and errors[0]["type"] == "model_type":
        return f"invalid {model.__name__}: expected a JSON object"
    parts = []
    for error in errors:
        field = ".".join(str(p) for p in error["loc"]) or "message"
        parts.append(f"{field}: {error['msg'].removeprefix('Value error, ')}")
    return f"invalid {model.__name__}: " + "; ".join(parts)

