"""The local stack without Docker: a real Apache Kafka (KRaft) from Maven Central jars and a real
redis-server, started as background processes that outlive the command that started them.

State lives under ``settings.stack.state_dir``: ``kafka/`` (config, data), ``redis/`` (data),
``logs/`` and one ``<service>.pid`` per process. ``down`` stops only processes whose pid files we
wrote. Kafka jars are resolved once per version into ``settings.stack.cache_dir``.

This module only coordinates (order of start-up, one shared deadline, topics, status); each
concern has its own module: pid files and process handling in :mod:`stream.ops.processes`, the
broker in :mod:`stream.ops.kafka_broker`, Redis in :mod:`stream.ops.redis_server`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from stream.ops.kafka_broker import KafkaBroker
from stream.ops.processes import Processes, StackError, port_open
from stream.ops.redis_server import RedisServer
from stream.settings import Settings

__all__ = ["LocalStack", "ServiceStatus", "StackError"]


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    running: bool
    pid: int | None
    port: int
    log: str
    started_by_us: bool

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class LocalStack:
    """Start, inspect and stop Kafka and Redis on 127.0.0.1, idempotently."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state_dir = settings.stack.state_dir.resolve()
        self.processes = Processes(self.state_dir)
        self.logs = self.processes.logs
        self.kafka = KafkaBroker(settings, self.processes)
        self.redis = RedisServer(settings, self.processes)

    def up(self) -> list[ServiceStatus]:
        """Start what is not running, wait until both answer, create the topics."""
        from stream.transport.topics import ensure_topics

        self.logs.mkdir(parents=True, exist_ok=True)
        self.redis.start()
        self.kafka.start()
        deadline = time.monotonic() + self.settings.stack.start_timeout_s
        self.redis.wait(deadline)
        self.kafka.wait(deadline)
        ensure_topics(self.settings)
        return self.status()

    def status(self) -> list[ServiceStatus]:
        s = self.settings
        return [
            self._service_status("kafka", s.stack.kafka_port),
            self._service_status("redis", s.stack.redis_port),
        ]

    def down(self, timeout_s: float = 30.0) -> list[str]:
        """Stop the processes this stack started (by pid file); return the names stopped."""
        return [name for name in ("kafka", "redis") if self.processes.stop(name, timeout_s)]

    def kafka_libs(self) -> Path:
        """The broker's jars for the configured version, resolved from Maven Central once."""
        return self.kafka.libs()

    def _service_status(self, name: str, port: int) -> ServiceStatus:
        pid = self.processes.read_pid(name)
        running = pid is not None and self.processes.running(name) and port_open(port)
        return ServiceStatus(name=name, running=running, pid=pid if running else None, port=port,
                             log=str(self.processes.log(name)), started_by_us=pid is not None)
