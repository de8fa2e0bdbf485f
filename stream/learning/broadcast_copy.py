"""The worker's copy of the item broadcast, handed to its user shards now and to those it takes
over later: every item's latest vector (with its TTL clock) and every item shard's latest part
of each trending scope.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np

from stream.contracts.internal import Changes, ScopeBest
from stream.learning.user_shard import FACTORS, UserShard

log = logging.getLogger(__name__)


class BroadcastCopy:
    def __init__(self) -> None:
        self.vectors: dict[str, tuple[np.ndarray, float]] = {}
        self.scopes: dict[tuple[int, str], ScopeBest] = {}

    def take(self, changes: Changes, shards: Iterable[UserShard]) -> None:
        """Keep the changes and give them to ``shards``. A vector of another length than the
        models' cannot be used: it is left out (and logged), not let to fail a shard later."""
        shards = list(shards)
        for item, vector in changes.vectors:
            if vector is not None and len(vector[0]) != FACTORS:
                log.error("broadcast vector of %r has %d dimensions, not %d: ignored", item,
                          len(vector[0]), FACTORS)
                continue
            if vector is None:
                self.vectors.pop(item, None)
            else:
                self.vectors[item] = vector
            for shard in shards:
                shard.take_vector(item, vector)
        for source, scope, part in changes.scopes:
            self.scopes[(source, scope)] = part._replace(gone=[])
            for shard in shards:
                shard.take_scope(source, scope, part)

    def seed(self, shard: UserShard) -> None:
        """A shard new to this worker takes everything the broadcast brought so far."""
        for item, vector in self.vectors.items():
            shard.take_vector(item, vector)
        for (source, scope), part in self.scopes.items():
            shard.take_scope(source, scope, part)
