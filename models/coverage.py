"""Coverage: how often a user the system already knows gets a list made for them.

A list is *personalised* when at least one of its items was proposed for this user (their own
items, their items' neighbours, their embedding), and a *fallback* when every item came from
what is popular or trending for everyone at their place. A user with at least one earlier event
should get a personalised list; the share of such asks that did is the coverage, overall and
per location (a place where personalisation fails hides behind a good overall share).

>>> from models.base import Scored
>>> coverage = Coverage()
>>> coverage.update("London", [Scored("tea", 1.0, "covis"), Scored("mug", 0.5, "trending")])
>>> coverage.update("London", [Scored("tea", 1.0, "trending")])
>>> coverage.update("Paris", [Scored("wine", 1.0, "repeat")])
>>> coverage.get()
{'coverage': 0.6666666666666666, 'asked': 3, 'by_location': {'London': 0.5, 'Paris': 1.0}}
>>> Coverage.from_sums(coverage.to_sums()).get() == coverage.get()
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from models.base import Scored

__all__ = ["FALLBACK_SOURCES", "Coverage", "personalised"]

# The sources that answer alike for everyone at a place (what a user never seen also gets), and
# the exploration slot's new items.
FALLBACK_SOURCES = frozenset({"trending", "popular", "explore"})
# The location of an ask whose context names none.
NO_LOCATION = "(none)"


def personalised(ranked: Sequence[Scored]) -> bool:
    """Whether any item of the list was proposed for this user, not for everyone."""
    return any(scored.source not in FALLBACK_SOURCES for scored in ranked)


class Coverage:
    """Counts of asks by known users, and of those answered with a personalised list, per
    location. Plain integer sums: workers' counts add up exactly and travel as JSON."""

    def __init__(self) -> None:
        self._counts: dict[str, list[int]] = {}  # location -> [personalised, asked]

    def update(self, location: str | None, ranked: Sequence[Scored]) -> None:
        """One ask by a user with at least one earlier event, and the list it got."""
        counts = self._counts.setdefault(location or NO_LOCATION, [0, 0])
        counts[0] += personalised(ranked)
        counts[1] += 1

    def get(self) -> dict[str, Any]:
        hits = sum(personal for personal, _ in self._counts.values())
        asked = sum(n for _, n in self._counts.values())
        return {"coverage": hits / asked if asked else 0.0, "asked": asked,
                "by_location": {location: personal / n
                                for location, (personal, n) in sorted(self._counts.items())}}

    def to_sums(self) -> dict[str, list[int]]:
        return {location: list(counts) for location, counts in self._counts.items()}

    @classmethod
    def from_sums(cls, sums: Mapping[str, Sequence[int]]) -> Coverage:
        coverage = cls()
        coverage._counts = {location: [int(personal), int(n)]
                            for location, (personal, n) in sums.items()}
        return coverage
