"""`recstream ranker train | evaluate | promote | rollback | list | retrain`: the work behind them.

Training needs the ``train`` extra (PyTorch); everything else scores with onnxruntime, as the
workers do. Every comparison is on one version's later time slice (the rows after its training
data, kept beside its artefact), so a candidate and the live version are measured on the same
rows.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from models.ranker.features import Inputs
from models.ranker.gate import judge, river_quality
from models.ranker.quality import quality
from models.ranker.serving import RankerSession
from models.ranker.table import Examples
from stream.errors import UserFacingError
from stream.ranker.registry import Registry
from stream.settings import Settings
from stream.store.clients import sync_redis
from stream.store.keys import Keys
from stream.transport.control import announce

# The later slice is the last fifth of the impressions in time: on Online Retail about 2,600
# requests (260k rows), enough to separate AUCs 0.01 apart.
HOLDOUT = 0.2
# Rows scored per onnxruntime call when measuring a slice: large enough to amortise the call.
_CHUNK = 65_536


def registry(settings: Settings) -> Registry:
    return Registry(sync_redis(settings.redis), Keys(settings.redis.key_prefix),
                    settings.serving.ranker_dir)


def train_version(settings: Settings, data: Path, epochs: int | None = None,
                  batch_size: int | None = None, holdout: float = HOLDOUT) -> dict[str, Any]:
    """Train on the earlier slice of ``data``, measure on the later one, export, check parity,
    register; the new entry (not live: `promote` decides that)."""
    training = trainer()
    given = {"epochs": epochs, "batch_size": batch_size}
    config = training.TrainConfig(**{k: v for k, v in given.items() if v is not None})
    fitted = training.fit(Examples.load(data), config, holdout)
    late = fitted.late
    entry = registry(settings).register(
        fitted.onnx, late, metrics=fitted.metrics, river=river_quality(late),
        parity=fitted.parity,
        data={"file": str(data), "train": row_range(fitted.early), "later": row_range(late),
              "epochs": config.epochs, "train_seconds": fitted.train_seconds})
    return entry.listed(live=False)


def trainer() -> ModuleType:
    """models.ranker.train, or a message naming the extra to install (workers have no torch)."""
    try:
        return importlib.import_module("models.ranker.train")
    except ImportError as exc:
        raise UserFacingError(f"training needs PyTorch: pip install 'recstream[train]' ({exc})"
                              ) from exc


def evaluate_version(settings: Settings, version: str | None = None,
                     data: Path | None = None) -> dict[str, Any]:
    """A version (default: the live one) against the River model on its later slice, or on
    the later slice of ``data``."""
    reg = registry(settings)
    version = version or reg.live()
    if version is None:
        raise UserFacingError("no ranker is live; name a version (see `recstream ranker list`)")
    rows = reg.held_out(version) if data is None else _later(Examples.load(data))
    return {"version": version, "rows": len(rows), "requests": rows.n_requests,
            "ranker": quality(rows.label, score(reg, version, rows), rows.request),
            "river": river_quality(rows)}


def promote(settings: Settings, version: str) -> dict[str, Any]:
    """Make ``version`` live if it beats the live version (or, with none, the River model) on
    its own later slice; announce it to the workers. The reason either way."""
    reg = registry(settings)
    rows = reg.held_out(version)
    incumbent = reg.live()
    if incumbent == version:
        return {"version": version, "promoted": False, "reason": f"{version} is live already"}
    verdict = judge(rows, version, score(reg, version, rows), incumbent,
                    None if incumbent is None else score(reg, incumbent, rows))
    if verdict["promoted"]:
        go_live(settings, reg, version)
    return verdict


def roll_back(settings: Settings) -> dict[str, Any]:
    """The version live before the current one serves again (none left: the River model)."""
    reg = registry(settings)
    before = reg.live()
    if before is None:
        raise UserFacingError("no ranker is live: nothing to roll back")
    version = reg.roll_back()
    announce(settings, reg.announcement(version))  # None: the River model
    return {"from": before, "to": version or "river"}


def go_live(settings: Settings, reg: Registry, version: str) -> None:
    """Record ``version`` as live and tell every worker (no gate: :func:`promote` is the gate)."""
    reg.make_live(version)
    announce(settings, reg.announcement(version))


def list_versions(settings: Settings) -> list[dict[str, Any]]:
    reg = registry(settings)
    live = reg.live()
    return [entry.listed(entry.version == live) for entry in reg.entries()]


def score(reg: Registry, version: str, rows: Examples) -> np.ndarray:
    """The version's scores of ``rows`` through onnxruntime, its artefact checked first."""
    entry = reg.get(version)
    return session_scores(RankerSession(version, reg.model_path(version).read_bytes(),
                                        entry.sha256), rows)


def session_scores(session: RankerSession, rows: Examples) -> np.ndarray:
    """A loaded version's scores of ``rows``, in chunks."""
    return np.concatenate([session.predict(Inputs(rows.ids[i:i + _CHUNK],
                                                  rows.dense[i:i + _CHUNK]))
                           for i in range(0, len(rows), _CHUNK)])


def _later(rows: Examples) -> Examples:
    return rows.split(rows.quantile_ts(1.0 - HOLDOUT))[1]


def row_range(rows: Examples) -> dict[str, Any]:
    """Where ``rows`` lie in time and how many they are (recorded beside a version)."""
    first, last = rows.time_range()
    return {"from_ts": first, "to_ts": last, "rows": len(rows), "requests": rows.n_requests,
            "positives": int(rows.label.sum())}
