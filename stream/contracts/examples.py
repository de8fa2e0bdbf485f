"""``ranker.examples``: the ranker's training data, labelled by the stream.

The server logs each impression with the ranker's inputs of every item it showed
(:class:`~stream.contracts.schemas.FeatureRows`); the user's shard joins the impression with the
clicks and purchases that follow and writes one :class:`RankerExample` per shown item, keyed by
request id. ``recstream ranker export`` turns the topic into the trainer's file. A replay through
``recstream evaluate`` writes the lists it scores the same way (``source`` "evaluated"), so a real
data set yields training data without live traffic.

>>> example = RankerExample.of("r1", "ann", "tea", 1294135200000, True,
...                            ([0, 16384, 32768, 49152, 65536, 81920, 98304], [0.0] * 7))
>>> example.label, example.ts.year, RankerExample.model_validate_json(example.to_json()) == example
(True, 2011, True)
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import model_validator

from stream.contracts.schemas import Contract, Id, Location, Timestamp, check_row

__all__ = ["RankerExample"]


class RankerExample(Contract):
    """One shown item, labelled: true when the user clicked or bought it within the join's
    window. ``ts`` is the impression's event time (the trainer's time split cuts at it); the rows
    of one impression share ``request_id``."""

    request_id: Id
    user_id: Id
    item_id: Id
    ts: Timestamp
    label: bool
    location: Location | None = None
    source: Literal["served", "evaluated"] = "served"
    ids: list[int]
    dense: list[float]

    @model_validator(mode="after")
    def _row(self) -> Self:
        check_row(self.ids, self.dense)
        return self

    @classmethod
    def of(cls, request_id: str, user_id: str, item_id: str, ts: Any, label: bool,
           row: tuple[Any, Any], **extra: Any) -> RankerExample:
        """From a logged row (two sequences of numbers, numpy's or the wire's)."""
        ids, dense = row
        return cls(request_id=request_id, user_id=user_id, item_id=item_id, ts=ts, label=label,
                   ids=[int(v) for v in ids], dense=[float(v) for v in dense], **extra)
