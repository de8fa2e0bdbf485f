"""``models.control``: which ranker version serves, announced to every worker.

One partition, one key (``ranker``), compacted: the latest message is the live version, and a
worker that starts later reads it too. ``version`` None means no ranker: the River model ranks.

>>> message = RankerAnnouncement(version="r2", sha256="ab" * 32, path="/ranker/r2/model.onnx")
>>> RankerAnnouncement.model_validate_json(message.model_dump_json()) == message
True
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

RANKER_KEY = b"ranker"


class RankerAnnouncement(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    version: str | None
    sha256: str | None = None
    path: str | None = None  # the artefact, as every worker reads it (a shared folder)
