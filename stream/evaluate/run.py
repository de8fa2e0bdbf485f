"""`recstream evaluate`: a data set through the real stack, against baselines on the same stream.

recstream's figures come from a real worker: the events are produced to Kafka, the worker learns
them test-then-train and exports its metric sums to Redis. The baselines (most popular,
time-decayed trending, item co-visitation, River's BiasedMF) run in this process over the very
same events in the same order, under the same protocol (models/evaluation.py), in the same run.
So does the worker's **in-process twin** (``recstream-in-process``): the worker's model, configured
alike, learning everything itself in one process. The relative gap between the two is what the
distribution (topics read apart, item halves applied by item shards, vectors and trending by
broadcast) costs; the table shows it.

The run uses topics of its own with one partition, so the worker's single shard learns from the
whole stream, as each baseline does (with more partitions each shard learns from its users only).
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from models.base import Interaction, ItemInfo
from models.baselines import BiasedMFBaseline
from models.coverage import Coverage
from models.covisitation import CoVisitation
from models.evaluation import PrequentialEvaluator
from models.popularity import MostPopular
from models.reranked import ContextReranked
from models.trending import Trending
from stream.contracts.schemas import Event
from stream.data.replay import paced
from stream.data.sources import open_source
from stream.errors import UserFacingError
from stream.learning.interactions import InteractionBuilder
from stream.learning.user_shard import SYSTEM, recstream_model
from stream.ops.fleet import WorkerProcess, wait_for
from stream.settings import LearningSettings, Settings
from stream.store.reads import StateReader
from stream.transport.producer import EventProducer
from stream.transport.topics import ensure_topics

DATASETS = {
    # name: (source, default file under ../shared/data, default weather file, default location)
    "online-retail": ("online-retail", "online_retail/online_retail_2010-12-01_2011-08-31.csv.gz",
                      "weather/london_heathrow_daily_2010-2011.csv", "United Kingdom"),
    "yoochoose": ("yoochoose", "sessions/yoochoose-clicks-100k_train_full.txt", None, None),
    "synthetic": ("synthetic", None, None, None),
}
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def load_events(dataset: str, path: Path | None, limit: int | None,
                context: bool = True) -> tuple[list[Event], str | None]:
    """The events of the data set (catalogue, weather, interactions) in stream order."""
    if dataset not in DATASETS:
        raise UserFacingError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    source, default_file, weather_file, location = DATASETS[dataset]
    options: dict[str, Any] = {}
    if default_file is not None:
        path = path or SHARED_DATA / default_file
        if not path.is_file():
            raise UserFacingError(f"data file missing: {path} (give --path)")
        if weather_file is not None and context:
            options["weather_path"] = SHARED_DATA / weather_file
    events: list[Event] = []
    for event in open_source(source, path, **options):
        events.append(event)
        if limit is not None and len(events) >= limit:
            break
    return events, location


TWIN = f"{SYSTEM}-in-process"


def baselines(ablation: bool = False, twin: LearningSettings | None = None) -> dict[str, Any]:
    """The systems run in-process. With ``twin`` (the worker's learning settings), the worker's
    model too, configured as the worker configures it but learning its item halves and trending
    itself. With ``ablation``, also recstream's recommender blind to location and weather: same
    events, same run."""
    systems: dict[str, Any] = {"popularity": MostPopular(), "trending": Trending(),
                               "covisitation": CoVisitation(), "biasedmf": BiasedMFBaseline()}
    if twin is not None:
        systems[TWIN] = recstream_model(0, twin, distributed=False)
    if ablation:
        systems[f"{SYSTEM}-no-context"] = ContextReranked(use_context=False)
    return systems


def interactions(events: list[Event], default_location: str | None
                 ) -> list[Interaction | ItemInfo]:
    builder = InteractionBuilder(default_location=default_location)
    return [x for x in map(builder.feed, events) if x is not None]


def run_evaluation(base: Settings, dataset: str, path: Path | None = None,
                   limit: int | None = None, exclude_purchased: bool = True,
                   plot: Path | None = None, ablation: bool | None = None,
                   timeout_s: float = 1800, rate: float | None = None) -> dict[str, Any]:
    """Produce the data set (as fast as possible, or ``rate`` events per second), let one worker
    learn it, run the in-process systems meanwhile; their figures, the worker's first."""
    events, location = load_events(dataset, path, limit)
    stream = interactions(events, location)
    n_interactions = sum(isinstance(x, Interaction) for x in stream)
    settings = base.namespaced(f"eval-{uuid.uuid4().hex[:6]}").replace(
        partitions=1, default_location=location, exclude_purchased=exclude_purchased,
        eval_report_both=True, eval_sample_every=1)
    ensure_topics(settings)
    worker = WorkerProcess(settings, settings.stack.state_dir.resolve() / "evaluate-worker.log")
    try:
        started = time.perf_counter()
        with EventProducer(settings) as producer:
            producer.send_many(paced(events, rate=rate))
        produced = time.perf_counter() - started
        # The baselines learn while the worker does: same events, same order, same protocol.
        if ablation is None:
            ablation = dataset == "synthetic"  # the stream whose weather is known to matter
        evaluator = PrequentialEvaluator(baselines(ablation, twin=settings.learning), k=20,
                                         exclude_purchased=exclude_purchased,
                                         report_both=True).run(stream)
        figures = _wait_for_worker(settings, n_interactions, worker, timeout_s)
        elapsed = time.perf_counter() - started
    finally:
        worker.stop()
    result = evaluator.result(dataset)
    recstream_metrics = _metrics(figures["metrics"])
    result["systems"] = {SYSTEM: recstream_metrics, **result["systems"]}
    result["other_protocol"]["systems"] = {SYSTEM: _metrics(figures["metrics_other"]),
                                           **result["other_protocol"]["systems"]}
    result["coverage"] = {SYSTEM: Coverage.from_sums(json.loads(figures["coverage"])).get(),
                          **result["coverage"]}
    result["exclude_purchased"] = exclude_purchased
    result["gap"] = gap(result["systems"][SYSTEM], result["systems"][TWIN])
    result["other_protocol"]["gap"] = gap(result["other_protocol"]["systems"][SYSTEM],
                                          result["other_protocol"]["systems"][TWIN])
    result["recstream_worker"] = {
        "learned": int(figures["learned"]), "logloss": float(figures["logloss"]),
        "auc": float(figures["auc"]), "drifts": int(float(figures["drifts"])),
        "seconds": round(elapsed, 1), "events_per_s": round(len(events) / elapsed, 1),
        "produced_per_s": round(len(events) / produced, 1), "rate": rate}
    if plot is not None:
        _plot(plot, evaluator, json.loads(figures.get("curve", "[]")), dataset)
        result["plot"] = str(plot)
    return result


def gap(worker: dict[str, float], twin: dict[str, float]) -> dict[str, float]:
    """The worker's figures relative to its in-process twin's: -0.02 is 2% below.

    >>> gap({"hr@20": 0.198, "mrr@20": 0.05}, {"hr@20": 0.2, "mrr@20": 0.05})
    {'hr@20': -0.01, 'mrr@20': 0.0}
    """
    return {key: round(value / twin[key] - 1.0, 6) if twin[key] else 0.0
            for key, value in worker.items()}


def _wait_for_worker(settings: Settings, expected: int, worker: WorkerProcess,
                     timeout_s: float) -> dict[str, str]:
    reader = StateReader(settings.redis)
    wait_for(lambda: reader.learned([0]) >= expected, [worker],
             f"all {expected:,} interactions learned", timeout_s, interval_s=0.5)
    return reader.learning(0)


def _metrics(sums_json: str) -> dict[str, float]:
    from models.metrics import RankingMetrics

    metrics = RankingMetrics.from_sums(json.loads(sums_json)).get()
    return {key: metrics[key] for key in ("hr@20", "mrr@20", "ndcg@20")}


def _plot(path: Path, evaluator: PrequentialEvaluator, recstream_curve: list, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.plot([n for n, _ in recstream_curve], [v for _, v in recstream_curve], label=SYSTEM,
            linewidth=2)
    xs = [n for n, _ in evaluator.curve]
    for name in evaluator.systems:
        ax.plot(xs, [values[name] for _, values in evaluator.curve], label=name)
    ax.set(xlabel="interactions", ylabel=f"rolling HR@{evaluator.k}",
           title=f"Prequential HR@{evaluator.k}, {title}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def format_table(result: dict[str, Any]) -> str:
    lines = [f"{result['stream']}: {result['events']:,} interactions, {result['targets']:,} "
             f"targets, exclude purchased = {result['exclude_purchased']}",
             f"{'system':<22}{'HR@20':>9}{'MRR@20':>9}{'NDCG@20':>9}"
             f"   | other protocol HR@20 MRR@20"]
    other = result["other_protocol"]["systems"]
    for name, m in result["systems"].items():
        o = other[name]
        lines.append(f"{name:<22}{m['hr@20']:>9.4f}{m['mrr@20']:>9.4f}{m['ndcg@20']:>9.4f}"
                     f"   | {o['hr@20']:>20.4f} {o['mrr@20']:.4f}")
    coverage = result["coverage"][SYSTEM]
    lowest = sorted(coverage["by_location"].items(), key=lambda place: place[1])[:5]
    lines.append(f"{SYSTEM} coverage (known users' asks answered with a personalised list): "
                 f"{coverage['coverage']:.1%} of {coverage['asked']:,}; lowest locations: "
                 + (", ".join(f"{place} {share:.1%}" for place, share in lowest) or "none"))
    gaps = result["gap"]
    lines.append(f"{SYSTEM} worker against {TWIN}: HR@20 {gaps['hr@20']:+.1%}, "
                 f"MRR@20 {gaps['mrr@20']:+.1%}, NDCG@20 {gaps['ndcg@20']:+.1%}")
    worker = result["recstream_worker"]
    pace = (f"produced at {worker['rate']:,.0f} events/s" if worker.get("rate")
            else "produced as fast as possible")
    lines.append(f"recstream worker: learned {worker['learned']:,}, context model log loss "
                 f"{worker['logloss']:.4f}, AUC {worker['auc']:.4f}, drifts {worker['drifts']}, "
                 f"{pace}, {worker['events_per_s']:,.0f} events/s end to end")
    return "\n".join(lines)
