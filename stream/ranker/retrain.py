"""`recstream ranker retrain`: make rows, train, register and promote through the gate, on a
schedule (``--every 1h``) or once (the Kubernetes CronJob in deploy/k8s/ranker-cronjob.yaml).

The rows come from the stream (``from_stream``: the workers' labelled examples on
``ranker.examples``, stream/ranker/export.py), or from a replay of a data set's file
(stream/ranker/data.py): the file a shop's export job refreshes. A round whose candidate does not
beat the live version leaves the live one serving; the round's report says why either way.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stream.errors import UserFacingError
from stream.ranker.commands import promote, train_version
from stream.ranker.data import write_examples
from stream.ranker.export import export_examples
from stream.settings import Settings

log = logging.getLogger(__name__)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_s(text: str) -> float:
    """
    >>> duration_s("1h"), duration_s("90s"), duration_s("15m")
    (3600.0, 90.0, 900.0)
    """
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text.strip())
    if match is None:
        raise UserFacingError(f"not a duration: {text!r} (e.g. 90s, 15m, 1h, 1d)")
    return float(match.group(1)) * _UNITS[match.group(2)]


def retrain_once(settings: Settings, dataset: str, path: Path | None = None,
                 limit: int | None = None, epochs: int | None = None,
                 from_stream: bool = False) -> dict[str, Any]:
    if from_stream:
        rows = settings.serving.ranker_dir / "rows" / "stream.npz"
        made = export_examples(settings, rows, frozenset({"served", "evaluated"}))
    else:
        rows = settings.serving.ranker_dir / "rows" / f"{dataset}.npz"
        made = write_examples(rows, dataset, path, limit)
    entry = train_version(settings, rows, epochs)
    return {"rows": made, "trained": entry, "promotion": promote(settings, entry["version"])}


def retrain_every(settings: Settings, every_s: float, rounds: int | None,
                  report: Callable[[dict[str, Any]], None], **round_args: Any) -> None:
    """A round now, then one every ``every_s`` (from each round's start), ``rounds`` times or
    until stopped. A failed round is logged and the next one comes on time."""
    done = 0
    while rounds is None or done < rounds:
        started = time.monotonic()
        try:
            report(retrain_once(settings, **round_args))
        except Exception:
            log.exception("ranker retrain round failed; the live version stays")
        done += 1
        if rounds is None or done < rounds:
            time.sleep(max(every_s - (time.monotonic() - started), 0.0))
