"""The basket policy: which interactions are learned together, and when.

Consecutive interactions sharing ``(user_id, session_id, ts)`` form one *basket*: the lines of
one invoice, or a single click. A basket is scored once, in its first line's context, before
any of its lines is learned: learning the first line of an invoice and then asking for the rest
would grade a model on what it was just told. So a basket is closed, and handed over for
test-then-train, only when the next one begins (or at :meth:`Baskets.flush`).

>>> from models.base import Interaction
>>> baskets = Baskets()
>>> baskets.feed(Interaction("ann", "tea", ts=1.0, session_id="o1")) is None  # opens o1
True
>>> baskets.feed(Interaction("ann", "jam", ts=1.0, session_id="o1")) is None  # o1 again
True
>>> [line.item_id for line in baskets.feed(Interaction("bob", "rum", ts=2.0))]  # closes o1
['tea', 'jam']
>>> [line.item_id for line in baskets.open]
['rum']
>>> [line.item_id for line in baskets.flush()], baskets.open, baskets.flush()
(['rum'], (), None)
"""

from __future__ import annotations

from models.base import Interaction

__all__ = ["Baskets"]


class Baskets:
    """Groups a stream of interactions into baskets; see the module docstring.

    The open basket is state: an owner that snapshots this object between two batches of a
    stream resumes mid-basket (it pickles as plain data).
    """

    def __init__(self) -> None:
        self._open: list[Interaction] = []

    def feed(self, interaction: Interaction) -> tuple[Interaction, ...] | None:
        """Take the next line; the basket it closed (the one open before it), or None."""
        closed = None
        if self._open and _key(interaction) != _key(self._open[0]):
            closed = tuple(self._open)
            self._open = []
        self._open.append(interaction)
        return closed

    def flush(self) -> tuple[Interaction, ...] | None:
        """Close the open basket and return it (None: none is open), e.g. at a stream's end."""
        if not self._open:
            return None
        closed = tuple(self._open)
        self._open = []
        return closed

    @property
    def open(self) -> tuple[Interaction, ...]:
        """The lines fed but not closed yet, oldest first."""
        return tuple(self._open)


def _key(interaction: Interaction) -> tuple[str, str | None, float]:
    return interaction.user_id, interaction.session_id, interaction.ts
