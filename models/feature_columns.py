"""The context model's hashed features for many candidates at once, as columns of codes.

Scoring 500 candidates one example at a time (build :func:`models.features.features`, hash it,
take River's dot product) cost about 5 ms a request, half of a worker's serving time. Yet most
of a candidate's features do not depend on the candidate: ``user``, ``hour``, ``device``,
``location``, ``condition`` and ``temp`` are the request's; ``user*category``,
``category*condition`` and ``category*temp`` depend on the candidate's category only, of which a
request meets a few dozen; and ``item``, ``category``, ``price`` and ``item*condition`` (for the
few weather conditions there are) are the same in every request. So each feature name is hashed
once, where it first appears, and a request gathers its candidates' codes from arrays.

:meth:`CandidateColumns.columns` returns one column per feature of
:func:`~models.features.features`, in the order that function builds them: an int (the same
code for every candidate) or an array (a code per candidate). A code packs the hasher's bucket
and sign as ``sign * (bucket + 1)``; 0 means the candidate lacks the feature. So the model's
weights gathered with these codes and summed column by column are the dot product River takes
of each candidate's hashed features, term by term in the same order.

>>> from river import preprocessing
>>> from models.base import Context, ItemInfo
>>> from models.features import features
>>> hasher = preprocessing.FeatureHasher(n_features=2**20, seed=0)
>>> table = CandidateColumns(hasher, use_context=True)
>>> umbrella = ItemInfo("umbrella", category="rainwear", price=12.0)
>>> rain = Context(ts=0.0, condition="rain")
>>> columns = table.columns("u1", ["umbrella", "pebble"], rain, {"umbrella": umbrella})
>>> [name for name, column in zip(COLUMN_NAMES, columns, strict=True) if np.any(column)]
['user', 'item', 'hour', 'category', 'user*category', 'price', 'condition', 'item*condition', \
'category*condition']
>>> umbrellas = [decode(np.broadcast_to(column, 2)[0]) for column in columns]
>>> sorted(code for code in umbrellas if code[1]) == sorted(
...     hasher.transform_one(features("u1", umbrella, rain)).items())
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import repeat
from typing import Protocol

import numpy as np

from models.base import Context, ItemInfo
from models.features import price_band, temp_band

__all__ = ["COLUMN_NAMES", "CandidateColumns", "Column", "decode"]

# The features of models.features.features, in the order it builds them.
COLUMN_NAMES = ("user", "item", "hour", "device", "category", "user*category", "price",
                "location", "condition", "item*condition", "category*condition", "temp",
                "category*temp")

# A column: one code for every candidate, or a code per candidate.
Column = int | np.ndarray

# Items (and per-category names) whose codes are kept: far more than a shop's live range; past
# it the table starts afresh. A catalogue update leaves a dead row behind until then.
ITEMS_KEPT = 200_000
_FIRST_ROWS = 1024


class Hasher(Protocol):
    def transform_one(self, x: dict[str, float]) -> dict[int, float]: ...


def decode(code: int) -> tuple[int, float]:
    """A code's (bucket, value), as the hasher's output holds them ((-1, 0.0): absent)."""
    return abs(int(code)) - 1, float(np.sign(code))


class CandidateColumns:
    """Hashed feature codes of candidates, kept per item and per category between requests.

    Codes are cached under the item's id: the owner tells :meth:`forget` when an item's
    catalogue entry changes or goes. An item given as an :class:`ItemInfo` is cached under the
    entry itself (it cannot change).
    """

    def __init__(self, hasher: Hasher, use_context: bool) -> None:
        self.hasher = hasher
        self.use_context = use_context
        self._reset()

    def forget(self, item_id: str) -> None:
        """The item's catalogue entry changed: its codes are worked out again when next met."""
        self._rows.pop(item_id, None)

    def columns(self, user_id: str, items: Sequence[ItemInfo | str], context: Context,
                catalogue: Mapping[str, ItemInfo]) -> list[Column]:
        """One column per name of ``COLUMN_NAMES`` (see the module docstring); an item given
        by id is described by ``catalogue``, or by its id alone when not there."""
        rows = self._rows_of(items, catalogue)
        category = self._category[rows]
        present = np.unique(category[category >= 0]).tolist()
        names = list(self._categories)

        def per_category(before: str, after: str = "", shared: bool = True) -> np.ndarray:
            """The code of ``before + <the candidate's category> + after``."""
            code = self._cached if shared else self._code  # a user's names: this request's
            codes = np.zeros(len(names) + 1, dtype=np.int64)  # the last one: no category
            for c in present:
                codes[c] = code(before + names[c] + after)
            return codes[category]

        columns: list[Column] = [
            self._code(f"user={user_id}"), self._item[rows],
            self._cached(f"hour={int(context.ts // 3600 % 24)}"),
            0 if context.device is None else self._cached(f"device={context.device}"),
            per_category("category="), per_category(f"user*category={user_id}|", shared=False),
            self._price[rows]]
        if not self.use_context:
            return columns + [0] * (len(COLUMN_NAMES) - len(columns))
        condition, temp_c = context.condition, context.temp_c
        columns.append(0 if context.location is None
                       else self._cached(f"location={context.location}"))
        if condition is None:
            columns += [0, 0, 0]
        else:
            columns += [self._cached(f"condition={condition}"),
                        self._item_condition(rows, condition),
                        per_category("category*condition=", f"|{condition}")]
        if temp_c is None:
            columns += [0, 0]
        else:
            band = temp_band(temp_c)
            columns += [self._cached(f"temp={band}"), per_category("category*temp=", f"|{band}")]
        return columns

    def _reset(self) -> None:
        self._rows: dict[ItemInfo | str, int] = {}  # item id (or given entry) -> its row
        self._ids: list[str] = []  # the item id of each row
        self._item = np.zeros(_FIRST_ROWS, dtype=np.int64)  # "item=<id>"
        self._price = np.zeros(_FIRST_ROWS, dtype=np.int64)  # "price=<band>"; 0: no price
        self._category = np.zeros(_FIRST_ROWS, dtype=np.intp)  # into _categories; -1: none
        self._by_condition: dict[str, np.ndarray] = {}  # "item*condition=..."; 0: not yet
        self._categories: dict[str, int] = {}
        self._names: dict[str, int] = {}  # codes of the names shared by many requests

    def _rows_of(self, items: Sequence[ItemInfo | str], catalogue: Mapping[str, ItemInfo]
                 ) -> np.ndarray:
        rows = list(map(self._rows.get, items, repeat(-1)))
        if -1 in rows:
            if len(self._ids) + len(items) > ITEMS_KEPT:
                self._reset()
                rows = [-1] * len(items)
            for n, item in enumerate(items):
                if rows[n] == -1:
                    rows[n] = self._add(item, catalogue)
        return np.array(rows, dtype=np.intp)

    def _add(self, item: ItemInfo | str, catalogue: Mapping[str, ItemInfo]) -> int:
        row = self._rows.get(item)
        if row is not None:  # met twice in one request
            return row
        info = catalogue.get(item, item) if isinstance(item, str) else item
        if isinstance(info, ItemInfo):
            item_id, category, price = info.item_id, info.category, info.price
        else:
            item_id, category, price = info, None, None
        row = len(self._ids)
        if row == len(self._item):
            self._item, self._price, self._category = (
                np.concatenate([array, np.zeros_like(array)])
                for array in (self._item, self._price, self._category))
            self._by_condition = {condition: np.concatenate([codes, np.zeros_like(codes)])
                                  for condition, codes in self._by_condition.items()}
        self._ids.append(item_id)
        self._item[row] = self._code(f"item={item_id}")
        self._price[row] = 0 if price is None else self._cached(f"price={price_band(price)}")
        self._category[row] = (-1 if category is None
                               else self._categories.setdefault(category, len(self._categories)))
        self._rows[item] = row  # its item*condition codes are 0 (not worked out) until met
        return row

    def _item_condition(self, rows: np.ndarray, condition: str) -> np.ndarray:
        codes = self._by_condition.get(condition)
        if codes is None:
            codes = self._by_condition[condition] = np.zeros(len(self._item), dtype=np.int64)
        column = codes[rows]
        for n in np.flatnonzero(column == 0).tolist():
            row = int(rows[n])
            codes[row] = column[n] = self._code(
                f"item*condition={self._ids[row]}|{condition}")
        return column

    def _cached(self, name: str) -> int:
        code = self._names.get(name)
        if code is None:
            if len(self._names) >= ITEMS_KEPT:
                self._names.clear()
            code = self._names[name] = self._code(name)
        return code

    def _code(self, name: str) -> int:
        ((bucket, value),) = self.hasher.transform_one({name: 1.0}).items()
        return (1 if value > 0 else -1) * (bucket + 1)
