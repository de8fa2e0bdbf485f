"""Authenticated model snapshots: pickles are only ever loaded after their HMAC verifies.

A snapshot is ``HMAC-SHA256(key, shard || payload) || payload`` stored in Redis, the payload
being the :data:`FORMAT` byte then the pickles, and ``shard`` the identity of the shard it holds
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

A shard is pickled in steps (:meth:`SnapshotCodec.steps`), so that the worker's event loop,
which answers requests, is held a few milliseconds at a time rather than for the whole pickle
(70 to 130 ms for a shard that learned 40,000 events): first the values of the shard's large
tables (dicts of per-user or per-item rows, found in the state the pickler reduces each object
to), a chunk per step, then the objects that hold them, the deepest first, then the shard
itself. One pickler writes them all, so the shard's pickle refers to what the steps wrote (its
memo), and one unpickler reads them back in order: the objects come back shared as they were,
as from one pickle.
"""

from __future__ import annotations

import copyreg
import hashlib
import hmac
import io
import logging
import pickle
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stream.settings import Settings

log = logging.getLogger(__name__)

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
# the recommender counts newcomers' first baskets (``newcomers_``). 9: pickled in steps, one
# pickler's several pickles (the shard's last).
FORMAT = 9
# Values of a table pickled per step, and the tables worth it: at least this many values, none
# of them a plain value (an object or container is shared through the memo and written once; a
# number or a string would be written again by the table itself).
CHUNK = 500
_PLAIN = (str, int, float, bool, bytes, type(None))
# How deep into the objects' attributes tables are looked for (shard, model, its parts, theirs).
DEPTH = 4


class SnapshotRejected(ValueError):
    """The snapshot is not authentic (wrong key, tampered or truncated): it was not loaded."""


class SnapshotCodec:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the snapshot key must be at least 16 bytes")
        self.key = key

    def encode(self, obj: Any, shard: str) -> bytes:
        """The snapshot of ``obj`` at once (see :meth:`steps`)."""
        *_, blob = self.steps(obj, shard)
        assert blob is not None
        return blob

    def steps(self, obj: Any, shard: str) -> Iterator[bytes | None]:
        """The snapshot of ``obj`` in steps: None after each chunk of its tables, then the
        snapshot. Between steps the caller may let other work run, as long as nothing replaces
        ``obj``'s state wholesale (the worker holds its learner's lock meanwhile; requests only
        read a shard and count what they showed)."""
        buffer = io.BytesIO()
        buffer.write(bytes([FORMAT]))
        pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            for chunk in _chunks(obj):
                pickler.dump(chunk)
                yield None
            pickler.dump(obj)
            payload = buffer.getvalue()
        except Exception:
            # The steps are only a faster way to the same pickle: whatever they stumble on,
            # the shard is pickled at once, as before them (and fails, if it must, as then).
            log.exception("snapshot of %s in steps failed: pickling it at once", shard)
            payload = bytes([FORMAT]) + pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        yield self._mac(shard, payload) + payload

    def decode(self, blob: bytes, shard: str) -> Any:
        mac, payload = blob[:_MAC_BYTES], blob[_MAC_BYTES:]
        if len(mac) != _MAC_BYTES or not hmac.compare_digest(mac, self._mac(shard, payload)):
            raise SnapshotRejected(
                "snapshot signature does not match the configured key and this shard")
        if payload[:1] != bytes([FORMAT]):
            raise SnapshotRejected(f"snapshot of another format (this worker reads {FORMAT})")
        stream = io.BytesIO(payload)
        stream.seek(1)
        unpickler = pickle.Unpickler(stream)
        obj = unpickler.load()
        while stream.tell() < len(payload):  # the chunks' pickles came first: the last is it
            obj = unpickler.load()
        return obj

    def _mac(self, shard: str, payload: bytes) -> bytes:
        # The identity is length-prefixed so that no (shard, payload) pair reads as another.
        identity = shard.encode()
        return hmac.digest(self.key, len(identity).to_bytes(4, "big") + identity + payload,
                           "sha256")


def _chunks(obj: Any) -> Iterator[list[Any]]:
    """What takes ``obj``'s pickle its time, in steps: the values of the large tables within its
    pickled state (a dict of a row per item), ``CHUNK`` at a time, then the objects they were
    found in, the deepest first (each has tables of numbers or a few small ones left), to
    ``DEPTH`` attributes deep."""
    seen: set[int] = set()
    found: list[Any] = []
    objects = [(obj, 0)]
    while objects:
        current, depth = objects.pop()
        if id(current) in seen or depth > DEPTH:
            continue
        seen.add(id(current))
        if depth:
            found.append(current)
        for value in _state(current).values():
            if isinstance(value, dict) and len(value) >= CHUNK and id(value) not in seen:
                seen.add(id(value))
                values = list(value.values())
                if not isinstance(values[0], _PLAIN):
                    for at in range(0, len(values), CHUNK):
                        yield values[at:at + CHUNK]
            elif hasattr(value, "__dict__") and not isinstance(value, type):
                objects.append((value, depth + 1))
    for part in reversed(found):
        yield [part]


def _state(obj: Any) -> dict[str, Any]:
    """The attributes pickling ``obj`` writes: the state of its reduction, as the pickler asks
    for it (a reducer registered with ``copyreg``, else ``__reduce_ex__``: ``__getstate__``,
    which leaves out derived state, or a custom ``__reduce__``, such as the live ranker's,
    which writes none), where that is a dict; else nothing, and ``obj`` is left whole to the
    pickle of what holds it."""
    if not hasattr(obj, "__dict__") or isinstance(obj, type):
        return {}
    reducer = copyreg.dispatch_table.get(type(obj))  # the pickler's first choice
    try:
        reduced = reducer(obj) if reducer else obj.__reduce_ex__(pickle.HIGHEST_PROTOCOL)
    except Exception:  # then pickling it fails too, at once, as it would have
        return {}
    state = reduced[2] if isinstance(reduced, tuple) and len(reduced) > 2 else None
    if isinstance(state, tuple) and state and isinstance(state[0], dict):  # (dict, slots)
        state = state[0]
    return state if isinstance(state, dict) else {}


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
