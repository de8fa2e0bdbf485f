"""What a batch leaves to be done, as plain data: the learner core returns it, the checkpoint
does it (:mod:`stream.learning.checkpoint`).

A plan that could not be carried out (the broker or Redis away) stays pending and is merged with
the next one: messages keep their order, and a later value of a vector or of figures replaces an
earlier one (each write sets a whole value, so writing the latest is writing all of them).

>>> first = Plan(messages=[("t", 0, b"k", b"1")], user_vectors={"ann": np.zeros(2)})
>>> first.merge(Plan(messages=[("t", 0, b"k", b"2")], figures={0: {"learned": 3}}))
>>> [m[3] for m in first.messages], sorted(first.user_vectors), first.figures
([b'1', b'2'], ['ann'], {0: {'learned': 3}})
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stream.contracts.records import Message, Record, dead_letter
from stream.contracts.schemas import reason_kind


@dataclass
class Plan:
    """Messages to send (acknowledged, in order) and values to store."""

    messages: list[Message] = field(default_factory=list)
    user_vectors: dict[str, np.ndarray] = field(default_factory=dict)
    item_vectors: dict[str, np.ndarray] = field(default_factory=dict)
    # (scope, log score, item): the item's place in the scope's trending set (None: it leaves).
    trending: list[tuple[str, float | None, str]] = field(default_factory=list)
    # Dead letters among the messages, per kind of reason (counted beside the state's).
    dead_letters: Counter[str] = field(default_factory=Counter)
    figures: dict[int, dict[str, Any]] = field(default_factory=dict)  # user shard -> figures
    item_figures: dict[int, dict[str, Any]] = field(default_factory=dict)  # item shard -> ...

    def merge(self, later: Plan) -> None:
        self.messages.extend(later.messages)
        self.user_vectors.update(later.user_vectors)
        self.item_vectors.update(later.item_vectors)
        self.trending.extend(later.trending)
        self.dead_letters.update(later.dead_letters)
        for mine, theirs in ((self.figures, later.figures),
                             (self.item_figures, later.item_figures)):
            for shard, figures in theirs.items():
                mine.setdefault(shard, {}).update(figures)

    def dead_letter(self, dlq: str, record: Record, reason: str) -> None:
        """The record as a dead letter on ``dlq``, counted under its kind of reason."""
        letter = dead_letter(record, reason)
        self.messages.append((dlq, None, letter.source.encode(), letter.to_json()))
        self.dead_letters[reason_kind(reason)] += 1

    @property
    def writes(self) -> bool:
        """Whether anything is to be stored."""
        return bool(self.user_vectors or self.item_vectors or self.trending or self.figures
                    or self.item_figures or self.dead_letters)
