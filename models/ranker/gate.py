"""The gate: a ranker version goes live only if it beats what serves now, on the same rows.

"Beats" means a higher AUC and a higher NDCG@10 on the candidate's later time slice, the rows
it was not trained on; log loss is reported, not gated (a better-ordered model may be less
calibrated, and ranking is what it is for). With no ranker live, the bar is the River context
model's scoring of the same rows: a ranker that cannot beat the fallback must not replace it.

>>> decide("r2", {"auc": 0.80, "ndcg@10": 0.41}, "r1", {"auc": 0.78, "ndcg@10": 0.40})
(True, 'r2 beats r1 on the same slice: AUC 0.8000 > 0.7800, NDCG@10 0.4100 > 0.4000')
>>> decide("r3", {"auc": 0.80, "ndcg@10": 0.39}, "river", {"auc": 0.70, "ndcg@10": 0.40})[1]
'r3 does not beat river on the same slice: AUC 0.8000 > 0.7000, NDCG@10 0.3900 <= 0.4000'

:func:`judge` applies the rule to scores of the candidate's later slice, for `recstream ranker
promote` and for the walk-forward replay alike:

>>> late = Examples(ids=np.zeros((4, 7), np.int64),
...                 dense=np.array([[.9], [.1], [.8], [.2]], np.float32),
...                 label=np.array([0, 1, 0, 1], np.int8), request=np.array([0, 0, 1, 1], np.int32),
...                 request_ts=np.array([1.0, 2.0]))
>>> verdict = judge(late, "r1", np.array([.2, .7, .1, .6]), None, None)
>>> verdict["promoted"], verdict["incumbent"]["version"], verdict["incumbent"]["metrics"]["auc"]
(True, 'river', 0.0)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from models.ranker.quality import quality
from models.ranker.table import Examples

__all__ = ["GATED", "Rule", "decide", "judge", "river_quality"]

GATED = (("auc", "AUC"), ("ndcg@10", "NDCG@10"))


def decide(candidate: str, its: Mapping[str, float], incumbent: str,
           theirs: Mapping[str, float]) -> tuple[bool, str]:
    """Whether ``candidate`` may replace ``incumbent``, and why, in one line."""
    wins = [its[key] > theirs[key] for key, _ in GATED]
    parts = [f"{name} {its[key]:.4f} {'>' if win else '<='} {theirs[key]:.4f}"
             for (key, name), win in zip(GATED, wins, strict=True)]
    verdict = "beats" if all(wins) else "does not beat"
    return all(wins), f"{candidate} {verdict} {incumbent} on the same slice: {', '.join(parts)}"


Rule = Callable[[str, Mapping[str, float], str, Mapping[str, float]], tuple[bool, str]]


def river_quality(rows: Examples) -> dict[str, float]:
    """The River context model's scoring of ``rows`` (its probability is a ranker input, the
    first dense column): the bar when no ranker is live."""
    return quality(rows.label, rows.dense[:, 0], rows.request)


def judge(rows: Examples, candidate: str, its: np.ndarray, incumbent: str | None,
          theirs: np.ndarray | None, rule: Rule = decide) -> dict[str, Any]:
    """The gate on the candidate's later slice ``rows``: its scores ``its`` against the live
    version's ``theirs`` (``incumbent`` None: the River model's), with the verdict and why."""
    mine = quality(rows.label, its, rows.request)
    bar = (river_quality(rows) if incumbent is None or theirs is None
           else quality(rows.label, theirs, rows.request))
    promoted, reason = rule(candidate, mine, incumbent or "river", bar)
    return {"version": candidate, "promoted": promoted, "reason": reason, "metrics": mine,
            "incumbent": {"version": incumbent or "river", "metrics": bar}}
