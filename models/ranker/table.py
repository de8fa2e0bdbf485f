"""The ranker's labelled rows as arrays, saved as one compressed ``.npz`` file.

Why ``.npz`` and not Parquet: every column is a fixed-width numeric array, numpy reads and writes
them without a dependency (pyarrow is about 40 MB and the serving install must stay small), and
the trainer loads the arrays as they are. Rows of one impression share a ``request`` number
(consecutive, in time order); ``request_ts`` is each request's event time, which the time split
cuts at.

>>> rows = Examples(ids=np.zeros((4, 7), np.int64), dense=np.zeros((4, 6), np.float32),
...                 label=np.array([1, 0, 0, 1], np.int8), request=np.array([0, 0, 1, 1], np.int32),
...                 request_ts=np.array([10.0, 20.0]))
>>> early, late = rows.split(at_ts=15.0)
>>> early.n_requests, len(late), late.request.tolist(), late.time_range()
(1, 2, [0, 0], (20.0, 20.0))
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = ["Examples", "LabelledRow"]


class LabelledRow(NamedTuple):
    """One row as a stream writes it: its impression's key and event time, inputs, label."""

    request: str
    ts: float
    ids: Sequence[int]
    dense: Sequence[float]
    label: bool


@dataclass(frozen=True)
class Examples:
    ids: np.ndarray  # int64 (n, fields)
    dense: np.ndarray  # float32 (n, dense)
    label: np.ndarray  # int8 (n,): 1 when the impression's basket held the item
    request: np.ndarray  # int32 (n,): the row's impression, numbered from 0
    request_ts: np.ndarray  # float64 (requests,): each impression's event time

    def __len__(self) -> int:
        return len(self.label)

    @property
    def n_requests(self) -> int:
        return len(self.request_ts)

    def time_range(self) -> tuple[float, float]:
        return float(self.request_ts.min()), float(self.request_ts.max())

    def split(self, at_ts: float) -> tuple[Examples, Examples]:
        """The impressions before ``at_ts`` and those at or after it."""
        cut = int(np.searchsorted(self.request_ts, at_ts, side="left"))
        row = int(np.searchsorted(self.request, cut, side="left"))
        early = Examples(self.ids[:row], self.dense[:row], self.label[:row],
                         self.request[:row], self.request_ts[:cut])
        late = Examples(self.ids[row:], self.dense[row:], self.label[row:],
                        self.request[row:] - cut, self.request_ts[cut:])
        return early, late

    def quantile_ts(self, q: float) -> float:
        """The event time before which a share ``q`` of the impressions lie."""
        return float(self.request_ts[min(int(q * self.n_requests), self.n_requests - 1)])

    @classmethod
    def gather(cls, rows: Iterable[LabelledRow]) -> Examples:
        """The table of rows read in any order (a topic's partitions): an impression's rows
        share its ``request`` key and keep their order, impressions are numbered in time order.

        >>> ids, dense = [0] * 7, [0.0] * 7
        >>> table = Examples.gather([LabelledRow("late", 9.0, ids, dense, True),
        ...                          LabelledRow("early", 1.0, ids, dense, False),
        ...                          LabelledRow("late", 9.0, ids, dense, False)])
        >>> table.request.tolist(), table.label.tolist(), table.request_ts.tolist()
        ([0, 1, 1], [0, 1, 0], [1.0, 9.0])
        """
        impressions: dict[str, list[LabelledRow]] = {}
        for row in rows:
            impressions.setdefault(row.request, []).append(row)
        if not impressions:
            raise ValueError("no labelled rows to make a table of")
        ordered = sorted(impressions.values(), key=lambda group: (group[0].ts, group[0].request))
        flat = [row for group in ordered for row in group]
        return cls(ids=np.array([row.ids for row in flat], dtype=np.int64),
                   dense=np.array([row.dense for row in flat], dtype=np.float32),
                   label=np.array([row.label for row in flat], dtype=np.int8),
                   request=np.repeat(np.arange(len(ordered), dtype=np.int32),
                                     [len(group) for group in ordered]),
                   request_ts=np.array([group[0].ts for group in ordered], dtype=np.float64))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            np.savez_compressed(out, **{f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def load(cls, path: Path) -> Examples:
        if not path.is_file():
            raise FileNotFoundError(f"training rows missing: {path} (make them with "
                                    "`recstream ranker data`)")
        with np.load(path) as data:
            return cls(**{f.name: data[f.name] for f in fields(cls)})
