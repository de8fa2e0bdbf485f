"""The local stack's Kafka: one KRaft node (broker and controller) run from Maven Central jars.

Everything Kafka-specific is here: resolving the jars once per version with ``mvn`` into
``settings.stack.cache_dir``, writing ``server.properties`` from the settings, formatting the
storage on first start, and waiting until the broker answers. No Kafka distribution or Docker
image is needed, only java and (once) Maven.

Kafka 4.4.0 (the newest 4.x on Maven Central) is the default: aiokafka 0.14 under Faust and
librdkafka under confluent-kafka both produce, consume and join groups against it, so the 3.9.x
fallback that DESIGN.md allows was not needed.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from stream.ops.processes import Processes, StackError, port_open
from stream.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
POM = REPO_ROOT / "deploy" / "local" / "pom.xml"
LOG4J_CONFIG = REPO_ROOT / "deploy" / "local" / "log4j2.properties"


class KafkaBroker:
    """Start ``kafka.Kafka`` on 127.0.0.1 with config and data under ``<state_dir>/kafka``."""

    name = "kafka"

    def __init__(self, settings: Settings, processes: Processes) -> None:
        self.settings = settings
        self.processes = processes

    def libs(self) -> Path:
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

    def start(self) -> None:
        """Spawn the broker unless ours is already running; refuse ports taken by another."""
        if self.processes.running(self.name):
            return
        s = self.settings
        for port, name in ((s.stack.kafka_port, "KAFKA_PORT"), (s.stack.kafka_controller_port,
                                                         "KAFKA_CONTROLLER_PORT")):
            if port_open(port):
                raise StackError(f"port {port} (RECSTREAM_{name}) is taken by another process")
        java = shutil.which("java")
        if java is None:
            raise StackError("java (17 or newer) is needed to run Kafka; install OpenJDK")
        classpath = f"{self.libs()}/*"
        home = self.processes.state_dir / "kafka"
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
        self.processes.spawn(self.name, [
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

    def wait(self, deadline: float) -> None:
        """Return once the broker lists itself; raise if it dies or ``deadline`` passes first."""
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
            self.processes.check_starting(self.name, deadline,
                                          self.settings.stack.start_timeout_s)
            time.sleep(0.2)


def _kafka_cluster_id() -> str:
    """A random cluster id in Kafka's format (base64url of 16 bytes, no padding)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
