"""`recstream evaluate`: a data set through the real stack, against baselines on the same stream.

recstream's figures come from a real worker: the events are produced to Kafka, the worker learns
them test-then-train and exports its metric sums to Redis. The baselines (most popular,
time-decayed trending, item co-visitation, River's BiasedMF) run in this process over the very
same events in the same order, under the same protocol (models/evaluation.py), in the same run.
So does the worker's **in-process twin** (``recstream-in-process``): the worker's model, configured
alike, learning everything itself in one process. The relative gap between the two is what the
distribution (topics read apart, item halves applied by item shards, vectors and trending by
broadcast) costs; the table shows it.

The run uses topics of its own with one partition: the worker's one shard learns the whole stream
as each baseline does (a fleet's shards learn co-visitation from their users: `--ablation`).

With ``ranker`` (`evaluate --ranker r1`), the worker re-ranks with a registered ranker version:
it is announced on the run's ``models.control`` before the worker starts, and nothing is
produced until the worker has it live, so every basket is scored with it; the twin re-ranks with
the same version, and their lines say so ("recstream + ranker r1"). A version is trained on the
earlier impressions of a replay of this very data set, so the whole stream's figures include its
training period. So the run also reports the baskets after a moment (``after``, by default the
end of the version's training data): the stream is produced in two parts, and every system's
sums are read when all of the first part is learned (the worker closes its last basket once it
has read everything, the in-process systems close theirs there), so the figures after it count
the very same baskets for every system.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.base import Interaction, ItemInfo, Recommender
from models.baselines import BiasedMFBaseline
from models.coverage import Coverage
from models.covisitation import CoVisitation
from models.evaluation import PrequentialEvaluator
from models.metrics import RankingMetrics
from models.popularity import MostPopular
from models.ranker.ranked_model import WithRanker
from models.ranker.serving import ArtefactRefused, LiveRanker, RankerSession
from models.reranked import ContextReranked
from models.trending import Trending
from stream.contracts.control import RankerAnnouncement
from stream.contracts.schemas import ClickEvent, Event, PurchaseEvent
from stream.data.replay import paced
from stream.data.sources import open_source
from stream.errors import UserFacingError
from stream.evaluate.sharded import sharded_twin
from stream.learning.interactions import InteractionBuilder
from stream.learning.user_shard import SYSTEM, recstream_model
from stream.ops.fleet import WorkerProcess, wait_for
from stream.ranker.commands import registry
from stream.settings import LearningSettings, Settings
from stream.store.reads import StateReader
from stream.transport.control import announce, load
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
# Longest a replay's producer lingers: its flush sends what it holds at once anyway, and batches
# that fill (512 KiB) go sooner.
_LINGER_MS = 10_000


def labels(ranker: str | None) -> tuple[str, str]:
    """The worker's line and its twin's: "recstream + ranker r1" when they re-rank with r1.

    >>> labels("r1")
    ('recstream + ranker r1', 'recstream-in-process + ranker r1')
    """
    suffix = "" if ranker is None else f" + ranker {ranker}"
    return SYSTEM + suffix, TWIN + suffix


def baselines(ablation: bool = False, twin: LearningSettings | None = None,
              ranker: RankerSession | None = None, shards: int = 1) -> dict[str, Any]:
    """The systems run in-process. With ``twin`` (the worker's learning settings), the worker's
    model too, configured as the worker configures it but learning its item halves and trending
    itself, and re-ranking with ``ranker`` if given. With ``ablation``, also recstream's
    recommender blind to location and weather, and (with ``twin`` and a fleet of ``shards``
    partitions) the twin as such a fleet learns co-visitation: same events, same run."""
    systems: dict[str, Any] = {"popularity": MostPopular(), "trending": Trending(),
                               "covisitation": CoVisitation(), "biasedmf": BiasedMFBaseline()}
    if twin is not None:
        systems[labels(None if ranker is None else ranker.version)[1]] = _twin(twin, ranker)
    if ablation:
        systems[f"{SYSTEM}-no-context"] = ContextReranked(use_context=False)
    if ablation and twin is not None and shards > 1:
        systems[f"{TWIN}-covis-{shards}-shards"] = sharded_twin(twin, shards)
    return systems


def _twin(learning: LearningSettings, ranker: RankerSession | None) -> Recommender:
    model = recstream_model(0, learning, distributed=False)
    if ranker is None:
        return model
    live = LiveRanker()
    live.swap(ranker)
    return WithRanker(model, live)


def interactions(events: list[Event], default_location: str | None
                 ) -> list[Interaction | ItemInfo]:
    builder = InteractionBuilder(default_location=default_location)
    return [x for x in map(builder.feed, events) if x is not None]


def run_evaluation(base: Settings, dataset: str, path: Path | None = None,
                   limit: int | None = None, exclude_purchased: bool = True,
                   plot: Path | None = None, ablation: bool | None = None,
                   timeout_s: float = 1800, rate: float | None = None,
                   ranker: str | None = None, after: float | None = None) -> dict[str, Any]:
    """Produce the data set (as fast as possible, or ``rate`` events per second), let one worker
    learn it, run the in-process systems meanwhile; their figures, the worker's first. With
    ``ranker``, a registered version re-ranks (see the module); with a moment to count from
    (``after``, or the end of the ranker's training data), also the figures after it."""
    registered = None if ranker is None else _registered(base, ranker)
    events, location = load_events(dataset, path, limit)
    stream = interactions(events, location)
    n_interactions = sum(isinstance(x, Interaction) for x in stream)
    settings = base.namespaced(f"eval-{uuid.uuid4().hex[:6]}").replace(
        partitions=1, default_location=location, exclude_purchased=exclude_purchased,
        eval_report_both=True, eval_sample_every=1, log_evaluated=True)
    ensure_topics(settings)
    session, trained_to = None, None
    if registered is not None:
        message, session, trained_to = registered
        announce(settings, message)  # before the worker starts: it reads it first
    cut = after if after is not None else trained_to
    worker_name, twin_name = labels(ranker)
    worker = WorkerProcess(settings, settings.stack.state_dir.resolve() / "evaluate-worker.log")
    try:
        if ranker is not None:
            _wait_for_ranker(worker, ranker, timeout_s)
        if ablation is None:
            ablation = dataset == "synthetic"  # the stream whose weather is known to matter
        # The baselines learn while the worker does: same events, same order, same protocol.
        evaluator = PrequentialEvaluator(
            baselines(ablation, settings.learning, session, shards=base.kafka.partitions), k=20,
            exclude_purchased=exclude_purchased, report_both=True)
        started, producing, at_cut = time.perf_counter(), 0.0, None
        for sent, fed in _parts(events, stream, cut):
            producing += _produce(settings, sent, rate)
            for event in fed:
                evaluator.feed(event)
            evaluator.flush()
            if at_cut is None and cut is not None:  # the first of two parts
                at_cut = (_sums(evaluator), _wait_for_worker(
                    settings, sum(isinstance(x, Interaction) for x in fed), worker, timeout_s))
        figures = _wait_for_worker(settings, n_interactions, worker, timeout_s)
        elapsed = time.perf_counter() - started
    finally:
        worker.stop()
    result = evaluator.result(dataset)
    result["systems"] = {worker_name: _metrics(figures["metrics"]), **result["systems"]}
    result["other_protocol"]["systems"] = {worker_name: _metrics(figures["metrics_other"]),
                                           **result["other_protocol"]["systems"]}
    result["coverage"] = {worker_name: Coverage.from_sums(json.loads(figures["coverage"])).get(),
                          **result["coverage"]}
    result["exclude_purchased"] = exclude_purchased
    result["ranker"] = ranker
    result["examples_topic"] = settings.topics.examples  # the scored lists, labelled
    result["gap"] = gap(result["systems"][worker_name], result["systems"][twin_name])
    result["other_protocol"]["gap"] = gap(result["other_protocol"]["systems"][worker_name],
                                          result["other_protocol"]["systems"][twin_name])
    if at_cut is not None and cut is not None:
        result["after"] = _after(cut, at_cut, (_sums(evaluator), figures), worker_name)
    result["recstream_worker"] = {
        "learned": int(figures["learned"]), "targets": int(json.loads(figures["metrics"])["n"]),
        "logloss": float(figures["logloss"]),
        "auc": float(figures["auc"]), "drifts": int(float(figures["drifts"])),
        "seconds": round(elapsed, 1), "events_per_s": round(len(events) / elapsed, 1),
        "produced_per_s": round(len(events) / producing, 1), "rate": rate}
    if plot is not None:
        _plot(plot, evaluator, json.loads(figures.get("curve", "[]")), dataset)
        result["plot"] = str(plot)
    return result


def _registered(base: Settings, version: str) -> tuple[RankerAnnouncement, RankerSession,
                                                          float | None]:
    """A registered version's announcement, its session (checked as a worker checks it) and
    the end of its training data (None if the registry does not say)."""
    reg = registry(base)
    entry = reg.get(version)  # "no ranker version ..." when it is not registered
    message = reg.announcement(version)
    try:
        session = load(message)
    except ArtefactRefused as exc:
        raise UserFacingError(f"the workers would refuse it: {exc}") from exc
    assert session is not None  # a version was named
    to_ts = entry.data.get("train", {}).get("to_ts")
    return message, session, None if to_ts is None else float(to_ts)


def _wait_for_ranker(worker: WorkerProcess, version: str, timeout_s: float) -> None:
    """Until the worker has ``version`` live (its follower logs it); a refusal fails the run."""
    wait_for(lambda: f"ranker {version} live" in worker.output() or "REFUSED" in worker.output(),
             [worker], f"ranker {version} live in the worker", timeout_s)
    refused = [line for line in worker.output().splitlines() if "REFUSED" in line]
    if refused:
        raise UserFacingError(f"the worker refused ranker {version}: {refused[0]}")


def _parts(events: list[Event], stream: list[Interaction | ItemInfo], cut: float | None
           ) -> list[tuple[list[Event], list[Interaction | ItemInfo]]]:
    """The events to produce and the stream the in-process systems learn, whole (no ``cut``)
    or as the parts up to ``cut`` and after it."""
    if cut is None:
        return [(events, stream)]
    at_event = _first_after(events, cut, lambda e: isinstance(e, ClickEvent | PurchaseEvent),
                            lambda e: e.ts.timestamp())
    at_line = _first_after(stream, cut, lambda x: isinstance(x, Interaction), lambda x: x.ts)
    return [(events[:at_event], stream[:at_line]), (events[at_event:], stream[at_line:])]


def _produce(settings: Settings, events: list[Event], rate: float | None) -> float:
    """Produce ``events`` to the run's topics; the seconds it took.

    As fast as possible, they are held until the producer's flush sends them together: a worker
    that reads while they come (idle at the cut, it reads the second part at once) would else
    read one topic's batch before another's, and the merge holds nothing back for a topic read
    to its end (a synthetic run's worker then counted 1 to 5% fewer targets after the cut)."""
    if rate is None:
        settings = settings.replace(producer_linger_ms=_LINGER_MS)
    started = time.perf_counter()
    with EventProducer(settings) as producer:
        producer.send_many(paced(events, rate=rate))
    return time.perf_counter() - started


def _first_after(items: list[Any], cut: float, timed: Callable[[Any], bool],
                 ts: Callable[[Any], float]) -> int:
    """The index of the first timed item after ``cut`` (the length if none is)."""
    return next((i for i, item in enumerate(items) if timed(item) and ts(item) > cut),
                len(items))


def _sums(evaluator: PrequentialEvaluator) -> dict[str, dict[str, dict[str, float]]]:
    """Each system's cumulative sums under both protocols."""
    return {"metrics": {n: m.to_sums() for n, m in evaluator.metrics.items()},
            "metrics_other": {n: m.to_sums() for n, m in evaluator.metrics_other.items()}}


def _after(cut: float, at_cut: tuple[dict[str, Any], dict[str, str]],
           end: tuple[dict[str, Any], dict[str, str]], worker_name: str) -> dict[str, Any]:
    """Every system's figures on the baskets after ``cut``: the sums at the end less those at
    the cut, the worker's as it exported them."""
    protocols = {}
    for key in ("metrics", "metrics_other"):
        systems = {worker_name: since(json.loads(at_cut[1][key]), json.loads(end[1][key]))}
        systems.update({name: since(at_cut[0][key][name], sums)
                        for name, sums in end[0][key].items()})
        protocols[key] = systems
    return {"ts": cut, "systems": protocols["metrics"],
            "other_protocol": {"systems": protocols["metrics_other"]}}


def since(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """The metrics of the targets scored between two readings of the same cumulative sums.

    >>> since({"k": 20, "n": 2, "hits": 1, "rr": 1.0, "ndcg": 1.0},
    ...       {"k": 20, "n": 6, "hits": 2, "rr": 1.5, "ndcg": 1.5})["mrr@20"]
    0.125
    """
    delta = {key: float(after[key]) - float(before[key]) for key in ("n", "hits", "rr", "ndcg")}
    metrics = RankingMetrics.from_sums({"k": after["k"], **delta}).get()
    return {"n": int(delta["n"]), **{key: metrics[key] for key in ("hr@20", "mrr@20", "ndcg@20")}}


def moment(text: str) -> float:
    """An ISO time as a timestamp, in UTC unless it names its zone (the data sets' times are).

    >>> moment("2011-07-07"), moment("2011-07-07T01:00+01:00")
    (1309996800.0, 1309996800.0)
    """
    when = datetime.fromisoformat(text)
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


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
    worker_name, twin_name = labels(result.get("ranker"))  # absent in runs before --ranker
    width = max(22, *(len(name) + 2 for name in result["systems"]))
    lines = [f"{result['stream']}: {result['events']:,} interactions, {result['targets']:,} "
             f"targets, exclude purchased = {result['exclude_purchased']}",
             *_rows(result, width)]
    coverage = result["coverage"][worker_name]
    lowest = sorted(coverage["by_location"].items(), key=lambda place: place[1])[:5]
    lines.append(f"{worker_name} coverage (known users' asks answered with a personalised "
                 f"list): {coverage['coverage']:.1%} of {coverage['asked']:,}; lowest locations: "
                 + (", ".join(f"{place} {share:.1%}" for place, share in lowest) or "none"))
    gaps = result["gap"]
    lines.append(f"{worker_name} worker against {twin_name}: HR@20 {gaps['hr@20']:+.1%}, "
                 f"MRR@20 {gaps['mrr@20']:+.1%}, NDCG@20 {gaps['ndcg@20']:+.1%}")
    worker = result["recstream_worker"]
    pace = (f"produced at {worker['rate']:,.0f} events/s" if worker.get("rate")
            else "produced as fast as possible")
    lines.append(f"recstream worker: learned {worker['learned']:,}, context model log loss "
                 f"{worker['logloss']:.4f}, AUC {worker['auc']:.4f}, drifts {worker['drifts']}, "
                 f"{pace}, {worker['events_per_s']:,.0f} events/s end to end")
    after = result.get("after")
    if after is not None:
        moment = datetime.fromtimestamp(after["ts"], UTC).isoformat(timespec="seconds")
        targets = next(iter(after["systems"].values()))["n"]
        lines += [f"baskets after {moment} only: {targets:,} targets", *_rows(after, width)]
    return "\n".join(lines)


def _rows(part: dict[str, Any], width: int) -> list[str]:
    """The table's header and a line per system, under both protocols."""
    rows = [f"{'system':<{width}}{'HR@20':>9}{'MRR@20':>9}{'NDCG@20':>9}"
            f"   | other protocol HR@20 MRR@20"]
    other = part["other_protocol"]["systems"]
    for name, m in part["systems"].items():
        o = other[name]
        rows.append(f"{name:<{width}}{m['hr@20']:>9.4f}{m['mrr@20']:>9.4f}{m['ndcg@20']:>9.4f}"
                    f"   | {o['hr@20']:>20.4f} {o['mrr@20']:.4f}")
    return rows
