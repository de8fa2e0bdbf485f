"""The local stack's Redis: a real ``redis-server`` from the system, started and awaited.

Kept apart from Kafka so the Redis start-up (its command line and why it is tuned so) reads in
one place; the process bookkeeping it relies on is in :mod:`stream.ops.processes`.
"""

from __future__ import annotations

import shutil
import time

from stream.ops.processes import Processes, StackError, port_open
from stream.settings import Settings


class RedisServer:
    """Start ``redis-server`` on 127.0.0.1 with its data under ``<state_dir>/redis``."""

    name = "redis"

    def __init__(self, settings: Settings, processes: Processes) -> None:
        self.settings = settings
        self.processes = processes

    def start(self) -> None:
        """Spawn redis-server unless ours is already running; refuse a port taken by another."""
        if self.processes.running(self.name):
            return
        binary = shutil.which("redis-server")
        if binary is None:
            raise StackError(
                "redis-server is not installed: run `apt-get install -y redis-server` "
                "(the README's set-up step and .ci/run do this)"
            )
        port = self.settings.stack.redis_port
        if port_open(port):
            raise StackError(f"port {port} (RECSTREAM_REDIS_PORT) is taken by another process")
        data = self.processes.state_dir / "redis"
        data.mkdir(parents=True, exist_ok=True)
        # Append-only with a per-second fsync: state survives a stack restart at little cost,
        # and Kafka offsets stored beside the state stay consistent with it. The log is
        # rewritten (a fork that copies the whole dataset, ~2 s of a core on this machine) only
        # once it has grown by 1 GB and doubled: shard snapshots alone add tens of MB a minute,
        # and at Redis' 64 MB default a rewrite every minute or two stalled the workers.
        args = [
            binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data),
            "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
            "--auto-aof-rewrite-min-size", "1gb", "--auto-aof-rewrite-percentage", "100",
            "--protected-mode", "yes",
        ]
        self.processes.spawn(self.name, args)

    def wait(self, deadline: float) -> None:
        """Return once Redis answers PING; raise if it dies or ``deadline`` passes first."""
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.settings.stack.redis_port)
        while True:
            try:
                if client.ping():
                    return
            except redis.exceptions.RedisError:
                pass
            self.processes.check_starting(self.name, deadline,
                                          self.settings.stack.start_timeout_s)
            time.sleep(0.1)
