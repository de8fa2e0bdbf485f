"""`recstream ranker replay --walk-forward`: the whole period, with the ranker retrained on a
schedule as production retrains it, so every basket is scored by a version trained before it.

One in-process test-then-train replay of the data set runs, side by side on the same events:
the worker's model re-ranked by the River model (recstream without a ranker), the same model
re-ranked by whatever ranker version is live in the replay, and with ``--baselines`` `recstream
evaluate`'s baselines. Beside them an :class:`~models.ranker.examples.ImpressionLog` writes the
ranker's labelled rows as `recstream ranker data` does. At every boundary in event time
(first interaction + ``every``, + 2 ``every``, ...) a :class:`Retrainer` trains a version on the
rows logged so far (all impressions before the boundary; labels as known then), holds out their
last fifth, checks parity, and puts it live only if it passes the gate of `recstream ranker
promote` (beat the live version, River with none, on that held-out slice). The basket open at
the boundary is scored before the swap: it lies before the boundary and its rows were trained
on. Versions live in memory; the Redis registry is never touched.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.base import Interaction, ItemInfo, Recommender
from models.evaluation import PrequentialEvaluator
from models.ranker.examples import ImpressionLog
from models.ranker.gate import Rule, decide, judge
from models.ranker.memory import RankerMemory
from models.ranker.ranked_model import WithRanker
from models.ranker.serving import LiveRanker, RankerSession
from models.ranker.table import Examples
from stream.evaluate.run import TWIN, baselines, interactions, load_events
from stream.learning.user_shard import recstream_model
from stream.ranker.commands import HOLDOUT, row_range, session_scores, trainer
from stream.ranker.prequential import RANKED, figures, protocol_rows
from stream.settings import LearningSettings

if TYPE_CHECKING:
    from models.ranker.train import TrainConfig

# Fewer impressions than this before a boundary: no version (its held-out fifth would hold
# about 20 requests, too few for the gate to tell two AUCs apart).
MIN_REQUESTS = 100
PROTOCOLS = ("exclude_purchased", "include_purchased")
METRICS = ("hr@20", "mrr@20", "ndcg@20")

Report = Callable[[dict[str, Any]], None]


class Retrainer:
    """Trains, checks and gates a version at each boundary; swaps ``live`` when one passes."""

    def __init__(self, live: LiveRanker, config: TrainConfig, holdout: float = HOLDOUT,
                 rule: Rule = decide, min_requests: int = MIN_REQUESTS) -> None:
        self.live = live
        self.config = config
        self.holdout = holdout
        self.rule = rule
        self.min_requests = min_requests
        self.records: list[dict[str, Any]] = []

    def at(self, boundary: float, log: ImpressionLog) -> dict[str, Any]:
        """A version from the logged rows of impressions before ``boundary``, live if the gate
        passes it."""
        rows = log.rows().split(boundary)[0] if log.n_requests else None
        n = 0 if rows is None else rows.n_requests
        record: dict[str, Any] = {"boundary": boundary, "boundary_utc": _utc(boundary),
                                  "impressions": n}
        if rows is None or n < self.min_requests:
            record.update(promoted=False, reason=f"only {n} impressions before the boundary "
                          f"(fewer than {self.min_requests}): no version")
        else:
            record.update(self._version(rows))
        record["live"] = self.live.version or "river"
        self.records.append(record)
        return record

    def _version(self, rows: Examples) -> dict[str, Any]:
        version = f"w{sum('version' in r for r in self.records) + 1}"
        fitted = trainer().fit(rows, self.config, self.holdout)
        made = {"version": version, "train": row_range(fitted.early),
                "later": row_range(fitted.late), "train_seconds": fitted.train_seconds,
                "torch_metrics": fitted.metrics, "parity": fitted.parity}
        if not fitted.parity["passed"]:
            return {**made, "promoted": False, "reason": f"{version} failed its parity check"}
        session = RankerSession(version, fitted.onnx)
        incumbent = self.live.session
        verdict = judge(fitted.late, version, session_scores(session, fitted.late),
                        None if incumbent is None else incumbent.version,
                        None if incumbent is None else session_scores(incumbent, fitted.late),
                        self.rule)
        if verdict["promoted"]:
            self.live.swap(session)
        return {**made, **verdict}


def walk_forward(stream: Iterable[Interaction | ItemInfo], evaluator: PrequentialEvaluator,
                 log: ImpressionLog, retrainer: Retrainer, every_s: float,
                 report: Report = lambda record: None) -> None:
    """Feed ``stream`` to the evaluator's systems and to the log, retraining at every boundary
    passed (once when an event jumps several: the rows are the same)."""
    next_at: float | None = None
    for x in stream:
        if isinstance(x, Interaction):
            next_at = x.ts + every_s if next_at is None else next_at
            if x.ts >= next_at:
                boundary = next_at + every_s * math.floor((x.ts - next_at) / every_s)
                evaluator.flush()  # the basket before the boundary, on the version until now
                report(retrainer.at(boundary, log))
                next_at = boundary + every_s
        evaluator.feed(x)
        log.feed(x)
    evaluator.flush()


def replay_walk_forward(dataset: str = "online-retail", every_s: float = 30 * 86_400.0,
                        with_baselines: bool = False, rows_every: int = 1,
                        epochs: int | None = None, report: Report = lambda record: None,
                        path: Path | None = None, limit: int | None = None) -> dict[str, Any]:
    """The walk-forward replay of a data set: the figures of every system over the whole
    period, the lead over the best baseline and every retrain."""
    started = time.perf_counter()
    events, location = load_events(dataset, path, limit)
    learning = LearningSettings()
    systems: dict[str, Recommender] = (baselines(twin=learning) if with_baselines else
                                       {TWIN: recstream_model(0, learning, distributed=False)})
    live = LiveRanker()
    systems[RANKED] = WithRanker(recstream_model(0, learning, distributed=False), live)
    evaluator = PrequentialEvaluator(systems, k=20, exclude_purchased=True, report_both=True)
    log = ImpressionLog(recstream_model(0, learning, distributed=False), RankerMemory(),
                        every=rows_every)
    config = trainer().TrainConfig(**({} if epochs is None else {"epochs": epochs}))
    retrainer = Retrainer(live, config)
    walk_forward(interactions(events, location), evaluator, log, retrainer, every_s, report)
    return {"dataset": dataset, "mode": "walk-forward", "retrain_every_s": every_s,
            "rows_every": rows_every, "epochs": config.epochs, "holdout": HOLDOUT,
            "baskets": evaluator.baskets, "interactions": evaluator.events,
            "impressions_logged": log.n_requests, **summary(evaluator),
            "retrains": retrainer.records, "seconds": round(time.perf_counter() - started, 1)}


def summary(evaluator: PrequentialEvaluator) -> dict[str, Any]:
    """Every system's whole-period figures per protocol, and the ranked system's lead over the
    best baseline of each metric (relative: 0.10 is 10% ahead)."""
    by_protocol = dict(zip(PROTOCOLS, (evaluator.metrics, evaluator.metrics_other), strict=True))
    protocols = {protocol: {name: figures(m.to_sums()) for name, m in metrics.items()}
                 for protocol, metrics in by_protocol.items()}
    lead: dict[str, dict[str, Any]] = {}
    for protocol, systems in protocols.items():
        others = {name: m for name, m in systems.items() if name not in (TWIN, RANKED)}
        if not others:
            continue
        lead[protocol] = {}
        for metric in METRICS:
            best = max(others, key=lambda name: others[name][metric])
            ours, theirs = systems[RANKED][metric], others[best][metric]
            lead[protocol][metric] = {"best_baseline": best, "baseline": theirs,
                                      "ranked": ours,
                                      "lead": round(ours / theirs - 1.0, 4) if theirs else None}
    return {"protocols": protocols, "lead": lead}


def format_table(result: dict[str, Any]) -> str:
    lines = [f"{result['dataset']}, whole period, walk-forward (retrain every "
             f"{result['retrain_every_s'] / 86_400:g} d, {len(result['retrains'])} boundaries)",
             *protocol_rows(result["protocols"])]
    for protocol, metrics in result["lead"].items():
        lines.append(f"{RANKED} against the best baseline, {protocol}: " + ", ".join(
            f"{metric} {m['lead']:+.1%} over {m['best_baseline']}"
            for metric, m in metrics.items() if m["lead"] is not None))
    for r in result["retrains"]:
        lines.append(f"{r['boundary_utc']} {r.get('version', '-'):<4} "
                     f"{r.get('train', {}).get('rows', 0):>9,} rows  live {r['live']:<6} "
                     f"{r['reason']}")
    return "\n".join(lines)


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")
