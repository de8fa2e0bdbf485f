"""The ranker registry: versions in Redis, their artefacts in a folder (``ranker_dir``).

A version is a folder ``<ranker_dir>/<version>/`` holding ``model.onnx`` and ``slice.npz``, the
later time slice it was measured on (the gate scores the live version on it too), and an entry
in Redis (keys in stream/store/keys.py) with its training data range, metrics against the River
model on that slice, parity result and the artefact's sha256. A version whose parity check failed
is never registered. The live version is one Redis string; the versions live before it form a
stack that rollback pops, and a worker that cannot load the live version falls back on
(:meth:`Registry.earlier`).

An S3-compatible store would replace the folder behind the same three calls (write, read, path);
here a folder shared by the workers is enough.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from models.ranker.table import Examples
from stream.contracts.control import RankerAnnouncement
from stream.errors import UserFacingError
from stream.store.keys import Keys

MODEL_FILE = "model.onnx"
SLICE_FILE = "slice.npz"


@dataclass
class Entry:
    """One registered version, as stored (JSON) and as `ranker list --json` shows it."""

    version: str
    sha256: str
    metrics: dict[str, float]  # on its later slice
    river: dict[str, float]  # the River context model on the same rows
    parity: dict[str, Any]
    data: dict[str, Any]  # source file, time ranges, row counts of both slices
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def listed(self, live: bool) -> dict[str, Any]:
        return {"version": self.version, "live": live, "metrics": self.metrics,
                "parity": {"max_abs_diff": self.parity["max_abs_diff"],
                           "passed": self.parity["passed"]},
                "sha256": self.sha256, "river": self.river, "data": self.data,
                "created": self.created}


class Registry:
    """Versions, the live one and the history, over one Redis client and one folder."""

    def __init__(self, client: redis.Redis, keys: Keys, folder: Path) -> None:
        self.client = client
        self.keys = keys
        self.folder = folder

    def register(self, onnx: bytes, held_out: Examples, *, metrics: dict[str, float],
                 river: dict[str, float], parity: dict[str, Any], data: dict[str, Any]) -> Entry:
        if not parity.get("passed"):
            raise UserFacingError(f"parity check failed, not registered: {parity}")
        version = f"r{self.client.incr(self.keys.ranker('seq'))}"
        where = self.folder / version
        where.mkdir(parents=True, exist_ok=False)
        (where / MODEL_FILE).write_bytes(onnx)
        held_out.save(where / SLICE_FILE)
        entry = Entry(version, hashlib.sha256(onnx).hexdigest(), metrics, river, parity, data)
        self.client.hset(self.keys.ranker("versions"), version, json.dumps(asdict(entry)))
        return entry

    def get(self, version: str) -> Entry:
        raw = self.client.hget(self.keys.ranker("versions"), version)
        if raw is None:
            raise UserFacingError(f"no ranker version {version!r} (see `recstream ranker list`)")
        return Entry(**json.loads(raw))

    def entries(self) -> list[Entry]:
        raw = self.client.hgetall(self.keys.ranker("versions"))
        return sorted((Entry(**json.loads(v)) for v in raw.values()),
                      key=lambda e: int(e.version[1:]))

    def live(self) -> str | None:
        value = self.client.get(self.keys.ranker("live"))
        return None if value is None else str(value)

    def announcement(self, version: str | None) -> RankerAnnouncement:
        """What ``models.control`` carries for ``version`` (None: the River model ranks)."""
        if version is None:
            return RankerAnnouncement(version=None)
        return RankerAnnouncement(version=version, sha256=self.get(version).sha256,
                                  path=str(self.model_path(version).resolve()))

    def earlier(self) -> list[RankerAnnouncement]:
        """The versions live before the live one, newest first: what a worker that refuses the
        live version's artefact, with none loaded yet, tries instead."""
        return [self.announcement(str(version))
                for version in self.client.lrange(self.keys.ranker("history"), 0, -1)]

    def model_path(self, version: str) -> Path:
        return self.folder / version / MODEL_FILE

    def held_out(self, version: str) -> Examples:
        return Examples.load(self.folder / version / SLICE_FILE)

    def make_live(self, version: str) -> None:
        """``version`` serves from now on; the one before it goes on the history stack."""
        self.get(version)
        before = self.live()
        pipe = self.client.pipeline(transaction=True)
        if before is not None and before != version:
            pipe.lpush(self.keys.ranker("history"), before)
        pipe.set(self.keys.ranker("live"), version)
        pipe.execute()

    def roll_back(self) -> str | None:
        """The live version before this one serves again (None: back to the River model)."""
        popped = self.client.lpop(self.keys.ranker("history"))
        if popped is None:
            self.client.delete(self.keys.ranker("live"))
            return None
        previous = str(popped)
        self.client.set(self.keys.ranker("live"), previous)
        return previous
