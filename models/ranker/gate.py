"""The gate: a ranker version goes live only if it beats what serves now, on the same rows.

"Beats" means a higher AUC and a higher NDCG@10 on the candidate's later time slice, the rows
it was not trained on; log loss is reported, not gated (a better-ordered model may be less
calibrated, and ranking is what it is for). With no ranker live, the bar is the River context
model's scoring of the same rows: a ranker that cannot beat the fallback must not replace it.

>>> decide("r2", {"auc": 0.80, "ndcg@10": 0.41}, "r1", {"auc": 0.78, "ndcg@10": 0.40})
(True, 'r2 beats r1 on the same slice: AUC 0.8000 > 0.7800, NDCG@10 0.4100 > 0.4000')
>>> decide("r3", {"auc": 0.80, "ndcg@10": 0.39}, "river", {"auc": 0.70, "ndcg@10": 0.40})[1]
'r3 does not beat river on the same slice: AUC 0.8000 > 0.7000, NDCG@10 0.3900 <= 0.4000'
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["GATED", "decide"]

GATED = (("auc", "AUC"), ("ndcg@10", "NDCG@10"))


def decide(candidate: str, its: Mapping[str, float], incumbent: str,
           theirs: Mapping[str, float]) -> tuple[bool, str]:
    """Whether ``candidate`` may replace ``incumbent``, and why, in one line."""
    wins = [its[key] > theirs[key] for key, _ in GATED]
    parts = [f"{name} {its[key]:.4f} {'>' if win else '<='} {theirs[key]:.4f}"
             for (key, name), win in zip(GATED, wins, strict=True)]
    verdict = "beats" if all(wins) else "does not beat"
    return all(wins), f"{candidate} {verdict} {incumbent} on the same slice: {', '.join(parts)}"
