"""Turns of the event loop for work that may hold it long: requests are answered between them.

A worker learns, applies item steps and pickles snapshots on the event loop that also answers
requests; each piece of such work calls :meth:`Turns.take` between its pieces, which lets the
loop run once ``TURN_S`` has passed since it last did. Timed, not counted: a piece costs from
microseconds (one item step) to milliseconds (2,000 steps, a chunk of a pickled table).
"""

from __future__ import annotations

import asyncio
import time

# Work that may hold the event loop long goes in turns of about this much (requests wait for it).
TURN_S = 0.005


class Turns:
    """Lets the event loop run whenever ``TURN_S`` has passed since it last did."""

    def __init__(self) -> None:
        self._since = time.perf_counter()

    async def take(self) -> None:
        if time.perf_counter() - self._since >= TURN_S:
            await asyncio.sleep(0)
            self._since = time.perf_counter()
