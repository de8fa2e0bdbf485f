"""The `recstream ranker ...` and `recstream bench ranker` commands: parsing and printing only."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from stream.errors import UserFacingError
from stream.settings import Settings


def add_commands(commands: Any) -> None:
    """`recstream ranker <action>` on the top-level subparsers."""
    ranker = commands.add_parser("ranker", help="the deep ranker: data, train, gate, serve")
    actions = ranker.add_subparsers(dest="action", required=True)

    data = actions.add_parser("data", help="labelled rows from a replay of a data set")
    _dataset(data)
    data.add_argument("--out", type=Path, required=True, help="the .npz file to write")
    data.add_argument("--every", type=int, default=1, help="an impression every N baskets")
    data.set_defaults(run=_data)

    export = actions.add_parser("export", help="the examples the stream labelled (the "
                                "ranker.examples topic) as a file of rows to train on")
    export.add_argument("--out", type=Path, required=True, help="the .npz file to write")
    export.add_argument("--source", choices=("all", "served", "evaluated"), default="all",
                        help="replies' impressions, `evaluate`'s scored lists, or both")
    export.add_argument("--topic", default=None,
                        help="the examples topic (default: the settings'; `recstream "
                        "evaluate` prints its run's)")
    export.add_argument("--timeout", type=float, default=30.0,
                        help="seconds to wait for the broker")
    export.set_defaults(run=_export)

    train = actions.add_parser("train", help="train, export, check parity, register")
    train.add_argument("--data", type=Path, required=True, help="rows from `ranker data`")
    train.add_argument("--epochs", type=int, default=None)
    train.add_argument("--batch-size", type=int, default=None)
    _json(train)
    train.set_defaults(run=_train)

    evaluate = actions.add_parser("evaluate", help="a version against the River model")
    evaluate.add_argument("version", nargs="?", default=None, help="default: the live one")
    evaluate.add_argument("--data", type=Path, default=None,
                          help="measure on this file's later slice (default: the version's)")
    _json(evaluate)
    evaluate.set_defaults(run=_evaluate)

    promote = actions.add_parser("promote", help="make a version live if it beats the live one")
    promote.add_argument("version")
    _json(promote)
    promote.set_defaults(run=_promote)

    rollback = actions.add_parser("rollback", help="the version live before serves again")
    _json(rollback)
    rollback.set_defaults(run=_rollback)

    listing = actions.add_parser("list", help="every version, its metrics and parity")
    _json(listing)
    listing.set_defaults(run=_list)

    replay = actions.add_parser("replay", help="the system with and without a version, "
                                "test-then-train, on the baskets after its training data; "
                                "or, with --walk-forward, the whole period with retraining")
    replay.add_argument("version", nargs="?", default=None,
                        help="a registered version (not with --walk-forward)")
    _dataset(replay)
    replay.add_argument("--baselines", action="store_true",
                        help="also `evaluate`'s baselines on the same baskets")
    replay.add_argument("--json-file", type=Path, default=None, help="also write the figures")
    replay.add_argument("--walk-forward", action="store_true",
                        help="the whole period: train a version at every boundary on the rows "
                        "before it, gate it, re-rank with it until the next (registry untouched)")
    replay.add_argument("--retrain-every", default="30d",
                        help="walk-forward: the boundaries' spacing in event time (default 30d)")
    replay.add_argument("--rows-every", type=int, default=1,
                        help="walk-forward: log an impression every N baskets (default 1)")
    replay.add_argument("--epochs", type=int, default=None, help="walk-forward: per version")
    replay.set_defaults(run=_replay)

    retrain = actions.add_parser("retrain", help="data, train, promote; once or on a schedule")
    _dataset(retrain)
    retrain.add_argument("--every", default=None, help="repeat, e.g. 1h (default: once)")
    retrain.add_argument("--rounds", type=int, default=None, help="stop after N rounds")
    retrain.add_argument("--epochs", type=int, default=None)
    retrain.add_argument("--from-stream", action="store_true",
                         help="train on the examples the workers labelled (ranker.examples), "
                         "not on a replay of the data set's file")
    retrain.set_defaults(run=_retrain)


def _dataset(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="online-retail",
                        help="online-retail, yoochoose or synthetic")
    parser.add_argument("--path", type=Path, default=None, help="the data file to read")
    parser.add_argument("--limit", type=int, default=None, help="the first N events only")


def _json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


def _data(settings: Settings, args: argparse.Namespace) -> int:
    from stream.ranker.data import write_examples

    print(json.dumps(write_examples(args.out, args.dataset, args.path, args.limit, args.every)))
    return 0


def _export(settings: Settings, args: argparse.Namespace) -> int:
    from stream.ranker.export import export_examples

    sources = frozenset({"served", "evaluated"} if args.source == "all" else {args.source})
    if args.topic is not None:
        settings = settings.replace(topic_examples=args.topic)
    print(json.dumps(export_examples(settings, args.out, sources, args.timeout)))
    return 0


def _train(settings: Settings, args: argparse.Namespace) -> int:
    from stream.ranker.commands import train_version

    entry = train_version(settings, args.data, args.epochs, args.batch_size)
    print(json.dumps(entry, indent=2) if args.json else
          f"registered {entry['version']} (not live; `recstream ranker promote "
          f"{entry['version']}`)\n" + _table(entry["metrics"], entry["river"])
          + f"\nparity: max |onnx - torch| {entry['parity']['max_abs_diff']:.2e}, passed")
    return 0


def _evaluate(settings: Settings, args: argparse.Namespace) -> int:
    from stream.ranker.commands import evaluate_version

    result = evaluate_version(settings, args.version, args.data)
    print(json.dumps(result, indent=2) if args.json else
          f"{result['version']} on {result['rows']:,} rows, {result['requests']:,} requests\n"
          + _table(result["ranker"], result["river"]))
    return 0


def _promote(settings: Settings, args: argparse.Namespace) -> int:
    from stream.ranker.commands import promote

    result = promote(settings, args.version)
    verdict = "promoted" if result["promoted"] else "not promoted"
    print(json.dumps(result, indent=2) if args.json else f"{verdict}: {result['reason']}")
    return 0 if result["promoted"] else 1


def _rollback(settings: Settings, args: argparse.Namespace) -> int:
    from stream.ranker.commands import roll_back

    result = roll_back(settings)
    print(json.dumps(result) if args.json else f"rolled back: {result['from']} -> {result['to']}")
    return 0


def _list(settings: Settings, args: argparse.Namespace) -> int:
    from stream.ranker.commands import list_versions

    versions = list_versions(settings)
    if args.json:
        print(json.dumps(versions, indent=2))
        return 0
    print(f"{'version':<9}{'live':<6}{'AUC':>8}{'logloss':>9}{'NDCG@10':>9}{'parity':>10}  sha256")
    for v in versions:
        m = v["metrics"]
        print(f"{v['version']:<9}{'*' if v['live'] else '':<6}{m['auc']:>8.4f}"
              f"{m['logloss']:>9.4f}{m['ndcg@10']:>9.4f}{v['parity']['max_abs_diff']:>10.1e}"
              f"  {v['sha256'][:12]}")
    return 0


def _replay(settings: Settings, args: argparse.Namespace) -> int:
    if args.walk_forward == (args.version is not None):
        raise UserFacingError("name a version, or give --walk-forward (and no version)")
    if args.walk_forward:
        from stream.ranker import walk_forward
        from stream.ranker.retrain import duration_s

        result = walk_forward.replay_walk_forward(
            args.dataset, duration_s(args.retrain_every), args.baselines, args.rows_every,
            args.epochs, lambda r: print(json.dumps(r), flush=True), args.path, args.limit)
        print(walk_forward.format_table(result))
    else:
        from stream.ranker.prequential import compare, format_table

        result = compare(settings, args.version, args.dataset, args.path, args.limit,
                         args.baselines)
        print(format_table(result))
    if args.json_file is not None:
        args.json_file.parent.mkdir(parents=True, exist_ok=True)
        args.json_file.write_text(json.dumps(result, indent=2))
    return 0


def _retrain(settings: Settings, args: argparse.Namespace) -> int:
    from stream.ranker.retrain import duration_s, retrain_every

    every = duration_s(args.every) if args.every else 0.0
    rounds = args.rounds if args.rounds is not None else (None if args.every else 1)
    retrain_every(settings, every, rounds, lambda r: print(json.dumps(r), flush=True),
                  dataset=args.dataset, path=args.path, limit=args.limit, epochs=args.epochs,
                  from_stream=args.from_stream)
    return 0


def _table(ranker: dict[str, float], river: dict[str, float]) -> str:
    lines = [f"{'scoring':<14}{'AUC':>8}{'logloss':>9}{'NDCG@10':>9}"]
    for name, m in (("deep ranker", ranker), ("River only", river)):
        lines.append(f"{name:<14}{m['auc']:>8.4f}{m['logloss']:>9.4f}{m['ndcg@10']:>9.4f}")
    return "\n".join(lines)
