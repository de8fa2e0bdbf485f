"""`recstream ranker train | evaluate | promote | rollback | list | retrain`: the work behind them.

Training needs the ``train`` extra (PyTorch); everything else scores with onnxruntime, as the
workers do. Every comparison is on one version's later time slice (the rows after its training
data, kept beside its artefact), so a candidate and the live version are measured on the same
rows.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from models.ranker.features import Inputs
from models.ranker.gate import decide
from models.ranker.quality import quality
from models.ranker.serving import RankerSession
from models.ranker.table import Examples
from stream.contracts.control import RankerAnnouncement
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
    try:
        from models.ranker.train import TrainConfig, export_onnx, parity, predict, train
    except ImportError as exc:
        raise UserFacingError(f"training needs PyTorch: pip install 'recstream[train]' ({exc})"
                              ) from exc
    rows = Examples.load(data)
    cut = rows.quantile_ts(1.0 - holdout)
    early, late = rows.split(cut)
    given = {"epochs": epochs, "batch_size": batch_size}
    config = TrainConfig(**{k: v for k, v in given.items() if v is not None})
    started = time.perf_counter()
    net = train(early, config)
    trained_s = time.perf_counter() - started
    onnx = export_onnx(net)
    checked = parity(net, onnx, late)
    entry = registry(settings).register(
        onnx, late, metrics=quality(late.label, predict(net, late), late.request),
        river=river_quality(late), parity=checked,
        data={"file": str(data), "train": _range(early), "later": _range(late),
              "epochs": config.epochs, "train_seconds": round(trained_s, 1)})
    return entry.listed(live=False)


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
    its = quality(rows.label, score(reg, version, rows), rows.request)
    incumbent = reg.live()
    if incumbent == version:
        return {"version": version, "promoted": False, "reason": f"{version} is live already"}
    theirs = (river_quality(rows) if incumbent is None
              else quality(rows.label, score(reg, incumbent, rows), rows.request))
    promoted, reason = decide(version, its, incumbent or "river", theirs)
    if promoted:
        go_live(settings, reg, version)
    return {"version": version, "promoted": promoted, "reason": reason, "metrics": its,
            "incumbent": {"version": incumbent or "river", "metrics": theirs}}


def roll_back(settings: Settings) -> dict[str, Any]:
    """The version live before the current one serves again (none left: the River model)."""
    reg = registry(settings)
    before = reg.live()
    if before is None:
        raise UserFacingError("no ranker is live: nothing to roll back")
    version = reg.roll_back()
    announce(settings, _announcement(reg, version))  # None: the River model
    return {"from": before, "to": version or "river"}


def go_live(settings: Settings, reg: Registry, version: str) -> None:
    """Record ``version`` as live and tell every worker (no gate: :func:`promote` is the gate)."""
    reg.make_live(version)
    announce(settings, _announcement(reg, version))


def list_versions(settings: Settings) -> list[dict[str, Any]]:
    reg = registry(settings)
    live = reg.live()
    return [entry.listed(entry.version == live) for entry in reg.entries()]


def score(reg: Registry, version: str, rows: Examples) -> np.ndarray:
    """The version's scores of ``rows`` through onnxruntime, its artefact checked first."""
    entry = reg.get(version)
    session = RankerSession(version, reg.model_path(version).read_bytes(), entry.sha256)
    return np.concatenate([session.predict(Inputs(rows.ids[i:i + _CHUNK],
                                                  rows.dense[i:i + _CHUNK]))
                           for i in range(0, len(rows), _CHUNK)])


def river_quality(rows: Examples) -> dict[str, float]:
    """The River context model's scoring of the same rows (its probability is a ranker input,
    the first dense column): the bar a ranker must clear."""
    return quality(rows.label, rows.dense[:, 0], rows.request)


def _announcement(reg: Registry, version: str | None) -> RankerAnnouncement:
    if version is None:
        return RankerAnnouncement(version=None)
    return RankerAnnouncement(version=version, sha256=reg.get(version).sha256,
                              path=str(reg.model_path(version).resolve()))


def _later(rows: Examples) -> Examples:
    return rows.split(rows.quantile_ts(1.0 - HOLDOUT))[1]


def _range(rows: Examples) -> dict[str, Any]:
    first, last = rows.time_range()
    return {"from_ts": first, "to_ts": last, "rows": len(rows), "requests": rows.n_requests,
            "positives": int(rows.label.sum())}
