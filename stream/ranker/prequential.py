"""`recstream ranker replay`: the whole system with and without the ranker, test-then-train.

Both systems are the worker's model as `recstream evaluate` runs its in-process twin; one of them
re-ranks with a registered ranker version from the moment its training data ends (before that it
falls back to the River model, as a worker does with no version live, so the two are identical
until then). The table counts only the baskets after that moment: the ranker never saw them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.base import Interaction, Recommender
from models.evaluation import PrequentialEvaluator
from models.metrics import RankingMetrics
from models.ranker.ranked_model import WithRanker
from models.ranker.serving import LiveRanker, RankerSession
from stream.evaluate.run import TWIN, baselines, interactions, load_events, since
from stream.learning.user_shard import recstream_model
from stream.ranker.commands import registry
from stream.settings import LearningSettings, Settings

RANKED = "recstream+ranker"


def compare(settings: Settings, version: str, dataset: str = "online-retail",
            path: Path | None = None, limit: int | None = None,
            with_baselines: bool = False) -> dict[str, Any]:
    """The figures of each system on the baskets after ``version``'s training data; with
    ``with_baselines``, `recstream evaluate`'s baselines beside them on the same baskets."""
    reg = registry(settings)
    entry = reg.get(version)
    cut = float(entry.data["train"]["to_ts"])
    events, location = load_events(dataset, path, limit)
    learning = LearningSettings()
    live = LiveRanker()
    systems: dict[str, Recommender] = (baselines(twin=learning) if with_baselines else
                                       {TWIN: recstream_model(0, learning, distributed=False)})
    systems[RANKED] = WithRanker(recstream_model(0, learning, distributed=False), live)
    evaluator = PrequentialEvaluator(systems, k=20, exclude_purchased=True, report_both=True)
    at_cut: dict[str, dict[str, dict[str, float]]] | None = None
    for event in interactions(events, location):
        if at_cut is None and isinstance(event, Interaction) and event.ts > cut:
            at_cut = _sums(evaluator)
            live.swap(RankerSession(version, reg.model_path(version).read_bytes(), entry.sha256))
        evaluator.feed(event)
    evaluator.flush()
    if at_cut is None:
        raise ValueError(f"the stream ends before {version}'s training data does")
    end = _sums(evaluator)
    return {"version": version, "dataset": dataset, "after_ts": cut,
            "protocols": {protocol: {name: _since(at_cut[protocol][name], sums)
                                     for name, sums in by_name.items()}
                          for protocol, by_name in end.items()}}


def _sums(evaluator: PrequentialEvaluator) -> dict[str, dict[str, dict[str, float]]]:
    return {"exclude_purchased": {n: m.to_sums() for n, m in evaluator.metrics.items()},
            "include_purchased": {n: m.to_sums() for n, m in evaluator.metrics_other.items()}}


def _since(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """:func:`stream.evaluate.run.since`, rounded as :func:`figures` rounds."""
    return {key: value if key == "n" else round(value, 4)
            for key, value in since(before, after).items()}


def figures(sums: dict[str, float]) -> dict[str, float]:
    """Targets and HR/MRR/NDCG at 20 from a system's metric sums (RankingMetrics.to_sums)."""
    metrics = RankingMetrics.from_sums(sums).get()
    return {"n": int(sums["n"]), **{key: round(metrics[key], 4)
                                    for key in ("hr@20", "mrr@20", "ndcg@20")}}


def format_table(result: dict[str, Any]) -> str:
    return "\n".join([f"{result['dataset']}, baskets after {result['version']}'s training data "
                      f"(ts > {result['after_ts']:.0f})", *protocol_rows(result["protocols"])])


def protocol_rows(protocols: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    """The table of each protocol's systems (targets, HR/MRR/NDCG at 20), with its header."""
    lines = [f"{'protocol':<20}{'system':<22}{'targets':>8}{'HR@20':>8}{'MRR@20':>8}"
             f"{'NDCG@20':>9}"]
    for protocol, systems in protocols.items():
        for name, m in systems.items():
            lines.append(f"{protocol:<20}{name:<22}{m['n']:>8}{m['hr@20']:>8.4f}"
                         f"{m['mrr@20']:>8.4f}{m['ndcg@20']:>9.4f}")
    return lines
