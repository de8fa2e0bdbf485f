"""The worker's copy of the item broadcast: every item's latest vector (with its TTL clock), in
one table all its user shards read, and every item shard's latest part of each trending scope,
handed to the user shards now and to those it takes over later.

An item shard keeps at most ``max_trending_scopes`` scopes and tells when it drops one (a
tombstone): its part is forgotten here, and each user shard's copy forgets the scope and takes
the other item shards' parts of it again, so no copy keeps a part its item shard dropped. The
parts kept here are thus at most the bound per item shard, and each copy keeps at most the bound
itself (``Trending.take_best``, by the mass of all the parts).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from models.vectors import VectorTable
from stream.contracts.internal import Changes, ScopeBest
from stream.learning.user_shard import FACTORS, UserShard

log = logging.getLogger(__name__)


class BroadcastCopy:
    def __init__(self) -> None:
        self.vectors = VectorTable(FACTORS)  # shared by the user shards (OnlineMF.share_items)
        self.parts: dict[str, dict[int, ScopeBest]] = {}  # scope -> item shard -> latest part

    def take(self, changes: Changes, shards: Iterable[UserShard]) -> None:
        """Keep the changes and give them to ``shards``. A vector of another length than the
        models' cannot be used: it is left out (and logged), not let to fail a shard later."""
        shards = list(shards)
        if changes.vectors:  # queued user halves read the table as it was when they were queued
            for shard in shards:
                shard.embeddings.flush()
        for item, vector in changes.vectors:
            if vector is not None and len(vector[0]) != FACTORS:
                log.error("broadcast vector of %r has %d dimensions, not %d: ignored", item,
                          len(vector[0]), FACTORS)
            elif vector is not None:
                self.vectors.put(item, *vector)
            elif item in self.vectors.index:
                self.vectors.remove(item)
        for source, scope, part in changes.scopes:
            if part is not None:
                self.parts.setdefault(scope, {})[source] = part._replace(gone=[])
                for shard in shards:
                    shard.take_scope(source, scope, part)
            else:
                self._dropped(source, scope, shards)

    def seed(self, shard: UserShard) -> None:
        """A shard new to this worker reads the shared vectors and takes the trending parts the
        broadcast brought so far."""
        shard.embeddings.share_items(self.vectors)
        for scope, parts in self.parts.items():
            for source, part in parts.items():
                shard.take_scope(source, scope, part)

    def _dropped(self, source: int, scope: str, shards: list[UserShard]) -> None:
        """An item shard dropped its part of ``scope``: the shards' copies forget the scope and
        take the other item shards' parts again (a copy cannot tell whose its items were)."""
        others = self.parts.get(scope, {})
        others.pop(source, None)
        if not others:
            self.parts.pop(scope, None)
        for shard in shards:
            shard.forget_scope(scope)
            for other, part in others.items():
                shard.take_scope(other, scope, part)
