"""Bytes made in a forked child, while the worker's event loop goes on answering requests.

Pickling a user shard for its snapshot holds the CPU for 50 to 90 ms (under ``recstream bench
serve``, one of a worker's shards every 7.5 s), and a thread would not help: pickling holds the
GIL. Every request waiting on the worker waited that long, the largest step of the event loop
left after learning was sliced. So, as Redis does for its background save, the worker forks:
the child holds the memory as it was at the fork (copy-on-write), makes the bytes and writes
them to a pipe, while the parent reads them in a thread and its event loop runs meanwhile.

The caller still awaits the bytes, so what it does next (storing the snapshot, then committing
offsets) waits as before, and the bytes are of the state at the moment of the call, whatever
the parent changes while it waits. The price is the fork itself (copying the page tables: a few
milliseconds for a few hundred megabytes) and, for as long as the child runs, the pages it
touches (pickling counts references, so about the size of what it pickles).

Where ``os.fork`` does not exist the bytes are made in place, as before.

>>> import asyncio
>>> asyncio.run(in_child(lambda: b"made apart"))
b'made apart'
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
from collections.abc import Callable
from typing import NoReturn

__all__ = ["ChildFailed", "in_child"]

_MADE, _FAILED = b"\0", b"\1"  # the first byte the child writes: what follows it


class ChildFailed(RuntimeError):
    """The child could not make the bytes: what it raised, or how it died."""


async def in_child(make: Callable[[], bytes]) -> bytes:
    """``make()``, called in a forked child on the memory as it is now."""
    if not hasattr(os, "fork"):
        return make()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: it never returns
        os.close(read_end)
        _make_and_exit(make, write_end)
    os.close(write_end)
    # One thread reads, closes and reaps, even when the awaiting task is cancelled meanwhile.
    sent, status = await asyncio.get_running_loop().run_in_executor(None, _collect, read_end,
                                                                    pid)
    if sent[:1] == _MADE and os.waitstatus_to_exitcode(status) == 0:
        return sent[1:]
    if sent[:1] == _FAILED:
        raise ChildFailed(sent[1:].decode(errors="replace"))
    raise ChildFailed(f"the child died before it finished (exit status "
                      f"{os.waitstatus_to_exitcode(status)}, {len(sent)} bytes sent)")


def _make_and_exit(make: Callable[[], bytes], fd: int) -> NoReturn:
    """In the child: make the bytes, send them (or what went wrong), and leave at once, without
    running anything of the parent's (no atexit, no buffered output flushed twice)."""
    code = 1
    try:
        gc.disable()  # a short life: nothing of the parent's is worth collecting here
        with contextlib.suppress(ValueError):  # not the main thread: the handlers stay
            signal.set_wakeup_fd(-1)  # the parent's event loop is not woken by the child
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        try:
            sent, code = _MADE + make(), 0
        except BaseException as exc:  # anything raised is the parent's to report
            sent = _FAILED + f"{type(exc).__name__}: {exc}".encode()
        view = memoryview(sent)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os._exit(code)


def _collect(fd: int, pid: int) -> tuple[bytes, int]:
    """In a thread of the parent: what the child sent until it closed the pipe, and its wait
    status."""
    chunks = []
    try:
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    return b"".join(chunks), status
