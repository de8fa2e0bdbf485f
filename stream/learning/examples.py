"""The ranker's training examples a user shard writes to ``ranker.examples``.

Two kinds, one record (:class:`~stream.contracts.examples.RankerExample`):

* **served**: a reply's impression logged the rows of what it showed (:func:`logged_rows`, at
  the moment it was ranked); the shard's label join (:class:`models.labels.ImpressionJoiner`)
  labels each shown item by the clicks and purchases that follow within its window, and the
  labels come back with their rows (:func:`served`).
* **evaluated**: with ``log_evaluated`` (``recstream evaluate``), the list the prequential
  evaluator scored a basket on is an impression too, labelled by that basket, as
  :mod:`models.ranker.examples` labels a file's replay (:func:`evaluated`). Its rows are taken
  after the test and before the basket is learned: what a server would have logged then.

A row is computed by :meth:`~models.ranker.online.OnlineFeatures.inputs`, the one function the
serving scorer calls, with each item's place in the candidate generator's list (``listed_at``).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from models.base import Context, Interaction, Scored
from models.evaluation import PrequentialEvaluator
from models.labels import Labelled
from models.ranker.memory import RankerMemory
from models.ranker.online import OnlineFeatures
from models.reranked import ContextReranked
from stream.contracts.examples import RankerExample
from stream.contracts.schemas import FeatureRows

__all__ = ["evaluated", "logged_rows", "served"]


def logged_rows(model: ContextReranked, memory: RankerMemory, user_id: str,
                shown: Sequence[Scored], context: Context) -> FeatureRows:
    """The ranker's rows of the items a list shows, as its scorer computes them now."""
    inputs = OnlineFeatures(model, memory).inputs(
        user_id, [s.item_id for s in shown], context, [s.listed_at for s in shown])
    # float32 values as the doubles they are: exact on the way back, and no formatting cost.
    return FeatureRows.model_construct(ids=inputs.ids.tolist(), dense=inputs.dense.tolist())


def served(labelled: Iterable[Labelled]) -> list[RankerExample]:
    """The joined labels whose impression logged rows, as examples."""
    return [RankerExample.of(e.request_id, e.user_id, e.item_id, _utc(e.context.ts), e.label,
                             e.row, location=e.context.location)
            for e in labelled if e.row is not None]


def evaluated(partition: int, system: str, evaluator: PrequentialEvaluator,
              model: ContextReranked, memory: RankerMemory,
              basket: Sequence[Interaction]) -> list[RankerExample]:
    """The list ``evaluator`` just scored ``basket`` on for ``system``, labelled by the basket
    (empty when the basket was not scored). The request id names the basket's first line, so
    a replay after a restart writes the same ids (the export keeps one row per id and item)."""
    shown = evaluator.listed.get(system)
    if not shown:
        return []
    first = basket[0]
    topic, offset = first.origin if first.origin is not None else ("", -1)
    request_id = f"evaluated-{zlib.crc32(topic.encode()):08x}-{partition}-{offset}"
    rows = logged_rows(model, memory, first.user_id, shown, first.context).rows()
    bought = {line.item_id for line in basket}
    return [RankerExample.of(request_id, first.user_id, s.item_id, _utc(first.ts),
                             s.item_id in bought, row, location=first.location,
                             source="evaluated")
            for s, row in zip(shown, rows, strict=True)]


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)
