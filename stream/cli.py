"""The `recstream` command: thin parsing and printing; the work lives in the modules it calls."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from stream.ranker import cli as ranker_cli
from stream.settings import Settings, SettingsError, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"recstream: {exc}", file=sys.stderr)
        return 2
    try:
        return int(args.run(settings, args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from stream.errors import UserFacingError
        from stream.store.clients import TRANSIENT, unavailable

        if isinstance(exc, TRANSIENT):
            exc = unavailable(settings.redis, exc)
        if isinstance(exc, UserFacingError):
            print(f"recstream: {exc}", file=sys.stderr)
            return 1
        raise


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recstream", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    stack = commands.add_parser("stack", help="the local Kafka + Redis stack").add_subparsers(
        dest="action", required=True)
    for action, text in (("up", "start Kafka and Redis and create the topics"),
                         ("status", "show what runs, with pids, ports and logs"),
                         ("down", "stop what `up` started")):
        sub = stack.add_parser(action, help=text)
        _json_flag(sub)
        sub.set_defaults(run=_stack)

    worker = commands.add_parser("worker", help="run a Faust ingestion worker")
    worker.add_argument("--web-port", type=int, default=None,
                        help="serve Faust's web views (metrics) on this port")
    worker.set_defaults(run=_worker)

    replay = commands.add_parser("replay", help="produce events from a data set or the simulator")
    replay.add_argument("--source", default="synthetic",
                        help="synthetic, online-retail, yoochoose, retailrocket, diginetica, otto")
    replay.add_argument("--path", type=Path, default=None, help="the data file to read")
    replay.add_argument("--weather", type=Path, default=None,
                        help="daily weather CSV merged into the stream (online-retail)")
    replay.add_argument("--limit", type=int, default=None, help="stop after N events")
    replay.add_argument("--rate", type=float, default=None,
                        help="events per second (default: as fast as possible)")
    replay.add_argument("--speedup", type=float, default=None,
                        help="follow the original timestamps, this many times faster")
    replay.add_argument("--seed", type=int, default=7, help="seed of the synthetic shop")
    replay.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _json_flag(replay)
    replay.set_defaults(run=_replay)

    demo = commands.add_parser("demo", help="stack, workers, a replay, and a summary")
    demo.add_argument("--source", default="online-retail")
    demo.add_argument("--path", type=Path, default=None)
    demo.add_argument("--weather", type=Path, default=None)
    demo.add_argument("--workers", type=int, default=2)
    demo.add_argument("--limit", type=int, default=None)
    _json_flag(demo)
    demo.set_defaults(run=_demo)

    inspect = commands.add_parser("inspect", help="what recstream knows of a user or an item")
    inspect.add_argument("kind", choices=("user", "item"))
    inspect.add_argument("id")
    _json_flag(inspect)
    inspect.set_defaults(run=_inspect)

    recommend = commands.add_parser("recommend", help="ask the workers for a user's "
                                                      "recommendations, as a shop would")
    recommend.add_argument("--user", required=True, help="the user id")
    recommend.add_argument("--k", type=int, default=10, help="how many items")
    recommend.add_argument("--location", default=None, help="where the user is now")
    recommend.add_argument("--timeout", type=float, default=None,
                           help="seconds to wait for the reply (default: the serving "
                                "default_deadline_ms)")
    _json_flag(recommend)
    recommend.set_defaults(run=_recommend)

    stats = commands.add_parser("stats", help="what the fleet has done: applied, dead letters, "
                                              "learned, per shard")
    _json_flag(stats)
    stats.set_defaults(run=_stats)

    evaluate = commands.add_parser(
        "evaluate", help="prequential figures of recstream and baselines on one stream")
    evaluate.add_argument("--dataset", required=True,
                          choices=("online-retail", "yoochoose", "synthetic"))
    evaluate.add_argument("--path", type=Path, default=None)
    evaluate.add_argument("--limit", type=int, default=None)
    evaluate.add_argument("--include-purchased", action="store_true",
                          help="do not exclude what the user bought (reported beside anyway)")
    evaluate.add_argument("--ablation", action="store_true", default=None,
                          help="also run recstream in-process without context, and with "
                               "co-visitation per user shard (default for synthetic)")
    evaluate.add_argument("--rate", type=float, default=None,
                          help="produce the data set at this many events/s (default: as fast "
                               "as possible)")
    evaluate.add_argument("--ranker", metavar="VERSION", default=None,
                          help="the worker (and its twin) re-rank with this registered ranker "
                               "version (see `recstream ranker list`)")
    evaluate.add_argument("--after", metavar="ISO-TIME", default=None,
                          help="also report the baskets after this moment, UTC unless it says "
                               "(default with --ranker: the end of its training data)")
    evaluate.add_argument("--plot", type=Path, default=Path("bench-results/evaluate.png"))
    evaluate.add_argument("--json", dest="json_file", type=Path, default=None)
    evaluate.set_defaults(run=_evaluate)
    ranker_cli.add_commands(commands)

    bench = commands.add_parser("bench", help="benchmarks that print and save their figures")
    bench_kinds = bench.add_subparsers(dest="bench", required=True)
    ingest = bench_kinds.add_parser("ingest", help="producer, worker and bare-consumer rates")
    ingest.add_argument("--events", type=int, default=100_000)
    ingest.add_argument("--json", dest="json_file", type=Path, default=None,
                        help="also write the figures to this file")
    ingest.set_defaults(run=_bench_ingest)
    freshness = bench_kinds.add_parser("freshness", help="click-to-Redis latency under load")
    freshness.add_argument("--rate", type=float, default=5000)
    freshness.add_argument("--seconds", type=float, default=30)
    freshness.add_argument("--workers", type=int, default=1)
    freshness.add_argument("--json", dest="json_file", type=Path, default=None)
    freshness.set_defaults(run=_bench_freshness)
    memory = bench_kinds.add_parser("memory", help="Redis bytes per user and per item")
    memory.add_argument("--users", type=int, default=100_000)
    memory.add_argument("--curve", action="store_true",
                        help="the worker's RSS over a long replay of a fixed population")
    memory.add_argument("--events", type=int, default=1_000_000, help="with --curve")
    memory.add_argument("--json", dest="json_file", type=Path, default=None)
    memory.set_defaults(run=_bench_memory)
    serve = bench_kinds.add_parser("serve", help="request round trip under load, beside an "
                                                 "echo worker's floor")
    serve.add_argument("--rates", type=lambda text: tuple(int(r) for r in text.split(",")),
                       default=(0, 100, 500, 1000),
                       help="requests/s, comma-separated (0: learning alone)")
    serve.add_argument("--seconds", type=float, default=15, help="per rate")
    serve.add_argument("--events-rate", type=float, default=2000, help="clicks/s meanwhile")
    serve.add_argument("--candidates", type=int, default=500, help="scored per request")
    serve.add_argument("--workers", type=int, default=1,
                       help="worker processes (the echo floor runs as many)")
    serve.add_argument("--in-process", action="store_true",
                       help="instead: the CPU time of one answer and the event loop held by a "
                       "snapshot, without Kafka")
    serve.add_argument("--events", type=int, default=40_000,
                       help="with --in-process: synthetic events the model learns first")
    serve.add_argument("--requests", type=int, default=1_000, help="with --in-process")
    serve.add_argument("--json", dest="json_file", type=Path, default=None)
    serve.set_defaults(run=_bench_serve)
    retrieval = bench_kinds.add_parser(
        "retrieval", help="exact top-k against faiss indexes: latency and recall@k")
    retrieval.add_argument("--sizes", type=int, nargs="+",
                           default=[10_000, 100_000, 1_000_000])
    retrieval.add_argument("--queries", type=int, default=200)
    retrieval.add_argument("-k", type=int, default=200)
    retrieval.add_argument("--train-events", type=int, default=200_000,
                           help="Online Retail events OnlineMF learns the trained vectors from")
    retrieval.add_argument("--path", type=Path, default=None,
                           help="the Online Retail file (default: shared/data's)")
    retrieval.add_argument("--json", dest="json_file", type=Path, default=None)
    retrieval.set_defaults(run=_bench_retrieval)
    ranker = bench_kinds.add_parser("ranker", help="scoring 500 candidates on one core: p50/p99")
    ranker.add_argument("--version", default=None, help="a registered version (default: live)")
    ranker.add_argument("--candidates", type=int, default=500)
    ranker.add_argument("--requests", type=int, default=2_000)
    ranker.add_argument("--json", dest="json_file", type=Path,
                        default=Path("bench-results/ranker.json"))
    ranker.set_defaults(run=_bench_ranker)
    return parser


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def _emit(args: argparse.Namespace, data: Any, text: Callable[[Any], str]) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else text(data))


def _stack(settings: Settings, args: argparse.Namespace) -> int:
    from stream.ops.localstack import LocalStack

    stack = LocalStack(settings)
    if args.action == "down":
        stopped = stack.down()
        _emit(args, {"stopped": stopped},
              lambda d: "stopped: " + (", ".join(d["stopped"]) or "nothing was running"))
        return 0
    statuses = stack.up() if args.action == "up" else stack.status()
    rows = [s.as_dict() for s in statuses]
    _emit(args, {"services": rows, "state_dir": str(settings.stack.state_dir)}, _format_status)
    return 0 if all(s.running for s in statuses) or args.action == "status" else 1


def _format_status(data: dict[str, Any]) -> str:
    lines = [f"state: {data['state_dir']}"]
    for row in data["services"]:
        state = f"running pid {row['pid']}" if row["running"] else "stopped"
        lines.append(f"{row['name']:<6} {state:<20} 127.0.0.1:{row['port']:<6} log {row['log']}")
    return "\n".join(lines)


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from stream.ops.worker import run_worker

    if args.web_port is not None:
        settings = settings.replace(worker_web_port=args.web_port)
    try:
        settings.check_deployment()
    except SettingsError as exc:
        print(f"recstream: {exc}", file=sys.stderr)
        return 2
    return run_worker(settings)


def _replay(settings: Settings, args: argparse.Namespace) -> int:
    from stream.data.replay import replay

    summary = replay(
        settings, source=args.source, path=args.path, weather=args.weather, limit=args.limit,
        rate=args.rate, speedup=args.speedup, seed=args.seed, progress=not args.no_progress,
    )
    _emit(args, summary, lambda d: "\n".join(f"{k}: {v}" for k, v in d.items()))
    return 0


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from stream.ops.demo import format_summary, run_demo

    summary = run_demo(settings, source=args.source, path=args.path, weather=args.weather,
                       workers=args.workers, limit=args.limit)
    _emit(args, summary, format_summary)
    return 0


def _evaluate(settings: Settings, args: argparse.Namespace) -> int:
    from stream.evaluate.run import format_table, moment, run_evaluation

    result = run_evaluation(settings, args.dataset, path=args.path, limit=args.limit,
                            exclude_purchased=not args.include_purchased, plot=args.plot,
                            ablation=args.ablation, rate=args.rate, ranker=args.ranker,
                            after=None if args.after is None else moment(args.after))
    print(format_table(result))
    print(f"plot: {result['plot']}")
    print(f"the worker's scored lists, labelled: recstream ranker export --topic "
          f"{result['examples_topic']} --out rows.npz")
    if args.json_file:
        args.json_file.parent.mkdir(parents=True, exist_ok=True)
        args.json_file.write_text(json.dumps(result, indent=2))
    return 0


def _inspect(settings: Settings, args: argparse.Namespace) -> int:
    from stream.ops.inspect import inspect_item, inspect_user
    from stream.store.reads import StateReader

    report = (inspect_user if args.kind == "user" else inspect_item)(
        StateReader(settings.redis), args.id)
    _emit(args, report, _format_report)
    return 0


def _stats(settings: Settings, args: argparse.Namespace) -> int:
    from stream.ops.stats import fleet_report, format_stats

    _emit(args, fleet_report(settings), format_stats)
    return 0


def _recommend(settings: Settings, args: argparse.Namespace) -> int:
    from stream.transport.client import RecommendationClient, items_of

    with RecommendationClient(settings) as client:
        reply = client.request(args.user, args.k, location=args.location, timeout_s=args.timeout)
    if args.json or reply.error is None:  # an error reply is still printed whole with --json
        _emit(args, reply.model_dump(mode="json"), _format_reply)
    items_of(reply)  # an error reply raises: its code and message, and exit status 1
    return 0


def _format_reply(reply: dict[str, Any]) -> str:
    """One line per item, best first, then what the reply was short of and what it took."""
    lines = [f"{rank:>4}  {item['item_id']:<24} {item['score']:>10.4f}  {item['source'] or '-'}"
             for rank, item in enumerate(reply["items"], 1)] or ["no items"]
    timings = ", ".join(f"{name} {ms:g} ms" for name, ms in reply["timings_ms"].items())
    lines.append(f"degraded: {', '.join(reply['degraded']) or 'none'}; "
                 f"timings: {timings or '-'}; request {reply['request_id']}")
    return "\n".join(lines)


def _format_report(report: dict[str, Any]) -> str:
    """One `name  value` line per fact; lists and mappings inline."""
    lines = []
    for name, value in report.items():
        if isinstance(value, list):  # long lists are cut here; --json has them whole
            more = f" ... ({len(value)} in all)" if len(value) > 20 else ""
            value = (", ".join(map(str, value[:20])) + more) or "-"
        elif isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        lines.append(f"{name:<16} {value if value is not None else '-'}")
    return "\n".join(lines)


def _bench_ingest(settings: Settings, args: argparse.Namespace) -> int:
    from stream.bench.ingest import format_report, run_ingest_bench

    report = run_ingest_bench(settings, events=args.events)
    print(format_report(report))
    _save(args.json_file, report)
    return 0


def _bench_freshness(settings: Settings, args: argparse.Namespace) -> int:
    from stream.bench.freshness import format_report, run_freshness_bench

    report = run_freshness_bench(settings, rate=args.rate, seconds=args.seconds,
                                 workers=args.workers)
    print(format_report(report))
    _save(args.json_file, report)
    return 0


def _bench_memory(settings: Settings, args: argparse.Namespace) -> int:
    if args.curve:
        from stream.bench.memory_curve import format_curve, run_memory_curve

        report = run_memory_curve(settings, events=args.events, users=args.users)
        print(format_curve(report))
        _save(args.json_file, report)
        return 0
    from stream.bench.memory import format_report, run_memory_bench

    report = run_memory_bench(settings, users=args.users)
    print(format_report(report))
    _save(args.json_file, report)
    return 0


def _bench_serve(settings: Settings, args: argparse.Namespace) -> int:
    if args.in_process:
        from stream.bench import answer

        report = answer.run_answer_bench(events=args.events, requests=args.requests,
                                         candidates=args.candidates)
        print(answer.format_report(report))
    else:
        from stream.bench.serve import format_report, run_serve_bench

        report = run_serve_bench(settings, rates=args.rates, seconds=args.seconds,
                                 events_rate=args.events_rate, candidates=args.candidates,
                                 workers=args.workers)
        print(format_report(report))
    _save(args.json_file, report)
    return 0


def _bench_retrieval(settings: Settings, args: argparse.Namespace) -> int:
    from stream.bench.retrieval import run

    run(sizes=args.sizes, queries=args.queries, k=args.k, train_events=args.train_events,
        data=args.path, out=args.json_file)
    return 0


def _bench_ranker(settings: Settings, args: argparse.Namespace) -> int:
    from stream.bench.ranker import format_report, run_ranker_bench

    report = run_ranker_bench(settings, args.version, args.candidates, args.requests)
    print(format_report(report))
    _save(args.json_file, report)
    return 0


def _save(path: Path | None, report: dict[str, Any]) -> None:
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    sys.exit(main())
