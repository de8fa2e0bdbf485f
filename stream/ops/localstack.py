"""The local stack without Docker: a real Apache Kafka (KRaft) from Maven Central jars and a real
redis-server, started as background processes that outlive the command that started them.

State lives under ``settings.stack.state_dir``: ``kafka/`` (config, data), ``redis/`` (data),
``logs/`` and one ``<service>.pid`` per process. ``down`` stops only processes whose pid files we
wrote. Kafka jars are resolved once per version into ``settings.stack.cache_dir``.

Kafka 4.4.0 (the newest 4.x on Maven Central) is the default: aiokafka 0.14 under Faust and
librdkafka under confluent-kafka both produce, consume and join groups against it, so the 3.9.x
fallback that DESIGN.md allows was not needed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from stream.errors import UserFacingError
from stream.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
POM = REPO_ROOT / "deploy" / "local" / "pom.xml"
LOG4J_CONFIG = REPO_ROOT / "deploy" / "local" / "log4j2.properties"


class StackError(UserFacingError):
    """The local stack could not be started; the message says what to look at."""


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
        self.logs = self.state_dir / "logs"

    # --- public -----------------------------------------------------------------------------
    def up(self) -> list[ServiceStatus]:
        """Start what is not running, wait until both answer, create the topics."""
        from stream.transport.topics import ensure_topics

        self.logs.mkdir(parents=True, exist_ok=True)
        self._start_redis()
        self._start_kafka()
        deadline = time.monotonic() + self.settings.stack.start_timeout_s
        self._wait_for_redis(deadline)
        self._wait_for_kafka(deadline)
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
        stopped = []
        for name in ("kafka", "redis"):
            pid = self._read_pid(name)
            if pid is None:
                continue
            if _alive(pid) and _is_ours(pid, name):
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + timeout_s
                while _alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.1)
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
                stopped.append(name)
            self._pid_file(name).unlink(missing_ok=True)
        return stopped

    # --- redis ------------------------------------------------------------------------------
    def _start_redis(self) -> None:
        if self._running("redis"):
            return
        binary = shutil.which("redis-server")
        if binary is None:
            raise StackError(
                "redis-server is not installed: run `apt-get install -y redis-server` "
                "(the README's set-up step and .ci/run do this)"
            )
        port = self.settings.stack.redis_port
        if _port_open(port):
            raise StackError(f"port {port} (RECSTREAM_REDIS_PORT) is taken by another process")
        data = self.state_dir / "redis"
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
        self._spawn("redis", args)

    def _wait_for_redis(self, deadline: float) -> None:
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.settings.stack.redis_port)
        while True:
            try:
                if client.ping():
                    return
            except redis.exceptions.RedisError:
                pass
            self._check_alive("redis", deadline)
            time.sleep(0.1)

    # --- kafka ------------------------------------------------------------------------------
    def kafka_libs(self) -> Path:
        """The broker's jars for the configured version, resolved from Maven Central once."""
        version = self.settings.stack.kafka_version
        libs = self.settings.stack.cache_dir.expanduser().resolve() / f"kafka-{version}" / "libs"
        marker = libs / ".complete"
        if marker.exists():
            return libs
        if shutil.which("mvn") is None:
            raise StackError("Maven (mvn) is needed once to fetch the Kafka jars; install it")
        if not POM.exists():
            raise StackError(f"{POM} is missing: run recstream from a checkout of the repository")
        if libs.exists():
            shutil.rmtree(libs)
        result = subprocess.run(
            ["mvn", "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
             f"-Dkafka.version={version}", f"-DoutputDirectory={libs}", "-DincludeScope=runtime"],
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            raise StackError(
                f"mvn could not resolve Kafka {version} (RECSTREAM_KAFKA_VERSION):\n"
                + (result.stdout + result.stderr)[-2000:]
            )
        marker.touch()
        return libs

    def _start_kafka(self) -> None:
        if self._running("kafka"):
            return
        s = self.settings
        for port, name in ((s.stack.kafka_port, "KAFKA_PORT"), (s.stack.kafka_controller_port,
                                                         "KAFKA_CONTROLLER_PORT")):
            if _port_open(port):
                raise StackError(f"port {port} (RECSTREAM_{name}) is taken by another process")
        java = shutil.which("java")
        if java is None:
            raise StackError("java (17 or newer) is needed to run Kafka; install OpenJDK")
        classpath = f"{self.kafka_libs()}/*"
        home = self.state_dir / "kafka"
        data = home / "data"
        config = home / "server.properties"
        home.mkdir(parents=True, exist_ok=True)
        config.write_text(self._server_properties(data))
        if not (data / "meta.properties").exists():
            cluster_id = _kafka_cluster_id()
            result = subprocess.run(
                # "--cluster-id=": an id may start with "-", which would read as a flag.
                [java, "-cp", classpath, "kafka.tools.StorageTool", "format",
                 f"--cluster-id={cluster_id}", "-c", str(config)],
                capture_output=True, text=True, check=False,
            )
            if result.returncode != 0:
                raise StackError("formatting Kafka storage failed:\n" + result.stderr[-2000:])
        self._spawn("kafka", [
            java, f"-Xmx{s.stack.kafka_heap}", f"-Xms{s.stack.kafka_heap}", "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            "-cp", classpath, "kafka.Kafka", str(config),
        ])

    def _server_properties(self, data: Path) -> str:
        s = self.settings
        return "\n".join([
            "# Written by `recstream stack up`; edit the settings, not this file.",
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{s.stack.kafka_controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{s.stack.kafka_port},"
            f"CONTROLLER://127.0.0.1:{s.stack.kafka_controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{s.stack.kafka_port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={data}",
            f"num.partitions={s.kafka.partitions}",
            "offsets.topic.replication.factor=1",
            # One broker: small internal topics start faster and cost less memory.
            "offsets.topic.num.partitions=8",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            # No reason to wait for more members on a one-host stack: tests rebalance often.
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=true",
            "",
        ])

    def _wait_for_kafka(self, deadline: float) -> None:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        from stream.transport.kafka_config import client_config

        admin = AdminClient(client_config(self.settings.kafka, log_level=0))
        while True:
            try:
                if admin.list_topics(timeout=2).brokers:
                    return
            except KafkaException:
                pass  # not listening yet: the broker is still starting (or died: checked next)
            self._check_alive("kafka", deadline)
            time.sleep(0.2)

    # --- processes ----------------------------------------------------------------------------
    def _spawn(self, name: str, args: list[str]) -> None:
        log = self.logs / f"{name}.log"
        with open(log, "ab") as out:
            process = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # survive the CLI that started it
            )
        self._pid_file(name).write_text(str(process.pid))

    def _check_alive(self, name: str, deadline: float) -> None:
        pid = self._read_pid(name)
        log = self.logs / f"{name}.log"
        if pid is None or not _alive(pid):
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise StackError(f"{name} exited during start-up; see {log}:\n{tail}")
        if time.monotonic() > deadline:
            raise StackError(
                f"{name} did not answer within {self.settings.stack.start_timeout_s:.0f}s "
                f"(RECSTREAM_STACK_START_TIMEOUT_S); see {log}"
            )

    def _pid_file(self, name: str) -> Path:
        return self.state_dir / f"{name}.pid"

    def _read_pid(self, name: str) -> int | None:
        try:
            return int(self._pid_file(name).read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def _running(self, name: str) -> bool:
        pid = self._read_pid(name)
        return pid is not None and _alive(pid) and _is_ours(pid, name)

    def _service_status(self, name: str, port: int) -> ServiceStatus:
        pid = self._read_pid(name)
        running = pid is not None and self._running(name) and _port_open(port)
        return ServiceStatus(name=name, running=running, pid=pid if running else None, port=port,
                             log=str(self.logs / f"{name}.log"), started_by_us=pid is not None)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child (started by this very process) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _is_ours(pid: int, name: str) -> bool:
    """A pid file may outlive its process and the pid be reused: check what the pid runs."""
    marker = {"kafka": b"kafka.Kafka", "redis": b"redis-server"}[name]
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return marker in cmdline.read()
    except OSError:
        return False


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _kafka_cluster_id() -> str:
    """A random cluster id in Kafka's format (base64url of 16 bytes, no padding)."""
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
