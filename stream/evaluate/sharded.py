"""The twin as a fleet of user shards learns it: co-visitation from each shard's own users.

A worker's user shard learns co-visitation from the sessions of its users alone (item vectors and
trending come from every shard, by the item shards and the broadcast: docs/architecture.md, *Item
state*). `recstream evaluate` runs its worker with one partition, so its figures are those of a
fleet of one shard; :func:`sharded_twin` says, in the same run, what a fleet of ``shards``
partitions gives up by it.
"""

from __future__ import annotations

from collections.abc import Iterable, Set

from models.base import Interaction
from models.covisitation import CoVisitation
from models.reranked import ContextReranked
from models.tally import Candidates
from stream.learning.user_shard import recstream_model
from stream.settings import LearningSettings
from stream.transport.partitioner import partition_of


class ShardedCoVisitation(CoVisitation):
    """``shards`` co-visitation models, each learning the sessions of the users Kafka's
    partitioner puts on its partition, each answering its own users: what the hybrid of each
    user shard holds. Only what the hybrid calls is routed."""

    def __init__(self, template: CoVisitation, shards: int) -> None:
        config = (template.window, template.history, template.max_neighbours,
                  template.half_life_s)
        super().__init__(*config)
        self.shards = [CoVisitation(*config) for _ in range(shards)]

    def learn_one(self, interaction: Interaction) -> None:
        self._of(interaction.user_id).learn_one(interaction)

    def candidates(self, user_id: str, n: int, excluded: Set[str]) -> Candidates:
        return self._of(user_id).candidates(user_id, n, excluded)

    def forget_users(self, users: Iterable[str]) -> None:
        for shard in self.shards:
            shard.forget_users(users)

    def _of(self, user_id: str) -> CoVisitation:
        return self.shards[partition_of(user_id, len(self.shards))]


def sharded_twin(learning: LearningSettings, shards: int) -> ContextReranked:
    """The in-process twin with co-visitation learned per user shard of ``shards``."""
    model = recstream_model(0, learning, distributed=False)
    hybrid = model.recommender_
    hybrid.covisitation_ = ShardedCoVisitation(hybrid.covisitation_, shards)
    return model
