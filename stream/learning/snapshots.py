"""Authenticated model snapshots: pickles are only ever loaded after their HMAC verifies.

A snapshot is ``HMAC-SHA256(key, shard || payload) || payload`` stored in Redis, the payload
being the :data:`FORMAT` byte then the pickle, and ``shard`` the identity of the shard it holds
(``user:3``). Unpickling runs code, so a snapshot written by anyone without the key (or damaged)
is refused, never loaded; so is one of another format, and one moved under another shard's key
(which would otherwise restore shard 3's users as shard 5's, with shard 3's offsets). Nothing of
the host is signed: a snapshot written under one state folder restores under another with the
same key.

>>> store = SnapshotCodec(b"a-key-of-32-bytes-or-so-for-hmac")
>>> store.decode(store.encode({"offsets": {"clicks": 7}}, "user:3"), "user:3")
{'offsets': {'clicks': 7}}
>>> store.decode(store.encode({"a": 1}, "user:3"), "user:5")
Traceback (most recent call last):
...
stream.learning.snapshots.SnapshotRejected: snapshot signature does not match the configured key and this shard
"""

from __future__ import annotations

import hashlib
import hmac
import pickle
import secrets
from pathlib import Path
from typing import Any

from stream.settings import Settings

_MAC_BYTES = hashlib.sha256().digest_size
# What the pickled shards look like. Bump it when a shard class changes its attributes: a worker
# refuses a snapshot of another format (the shard learns again from the retained log) instead of
# restoring objects its code cannot use. 2: trending counts moved to the item shards. 3: user
# shards own their model and basket policy (the evaluator watches). 4: user shards bound the
# users they keep (``seen``). 5: trending keeps a bounded number of scopes (``max_scopes``; item
# shards remember the scopes they ``dropped``) and ForwardDecay lives in models.decay. 6: user
# shards hold back events read ahead of another topic (``arrivals``). 7: the evaluator counts
# coverage (``coverage``, ``_known``); the recommender keeps new items (``new_items_``) and a
# weather gate; user shards keep the ranker's feature memory (``memory``). 8: impressions wait
# with their logged feature rows, and a shard keeps the ranker's examples it has yet to write;
# the recommender counts newcomers' first baskets (``newcomers_``).
FORMAT = 8


class SnapshotRejected(ValueError):
    """The snapshot is not authentic (wrong key, tampered or truncated): it was not loaded."""


class SnapshotCodec:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the snapshot key must be at least 16 bytes")
        self.key = key

    def encode(self, obj: Any, shard: str) -> bytes:
        payload = bytes([FORMAT]) + pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        return self._mac(shard, payload) + payload

    def decode(self, blob: bytes, shard: str) -> Any:
        mac, payload = blob[:_MAC_BYTES], blob[_MAC_BYTES:]
        if len(mac) != _MAC_BYTES or not hmac.compare_digest(mac, self._mac(shard, payload)):
            raise SnapshotRejected(
                "snapshot signature does not match the configured key and this shard")
        if payload[:1] != bytes([FORMAT]):
            raise SnapshotRejected(f"snapshot of another format (this worker reads {FORMAT})")
        return pickle.loads(payload[1:])

    def _mac(self, shard: str, payload: bytes) -> bytes:
        # The identity is length-prefixed so that no (shard, payload) pair reads as another.
        identity = shard.encode()
        return hmac.digest(self.key, len(identity).to_bytes(4, "big") + identity + payload,
                           "sha256")


def snapshot_key(settings: Settings) -> bytes:
    """The configured key, or on a local stack one generated once into the state folder."""
    if settings.learning.snapshot_key is not None:
        return settings.learning.snapshot_key.get_secret_value().encode()
    path = Path(settings.stack.state_dir).resolve() / "snapshot.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip().encode()
