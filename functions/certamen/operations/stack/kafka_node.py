"""A single-node Kafka in KRaft mode, from Apache Kafka's own jars and the machine's Java.

Its folder under the state dir holds ``server.properties`` (rewritten at every
start, so a port change takes effect), the formatted storage in ``data/`` and
nothing else; its log goes where every part's log goes.
"""

from __future__ import annotations

import base64
import subprocess
import uuid
from pathlib import Path

from certamen.operations.stack.errors import PartFailed
from certamen.settings import Settings

LOG4J_CONFIG = Path(__file__).with_name("kafka-log4j2.properties")
# Bounded so that Kafka fits beside everything else on a small machine. The JIT stops at
# its first tier (C1): the top tier (C2) took the broker 9-15 s of CPU in its first
# minutes and left the first minute's votes 2-3 times dearer while it compiled; C1 alone
# compiles in under a second and settles at the same cost per vote, one vote a call or
# batched (load/results/cost-per-vote.md, 2026-12-06 morning).
JVM_OPTIONS = (
    "-Xms256m",
    "-Xmx768m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
)


def kafka_home(settings: Settings) -> Path:
    """The Kafka node's folder under the state dir."""
    return settings.state_dir.resolve() / "kafka"


def server_properties(settings: Settings) -> str:
    """The broker+controller configuration of the single local node."""
    broker, controller = settings.ports.kafka, settings.ports.kafka_controller
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller}",
            f"listeners=PLAINTEXT://127.0.0.1:{broker},CONTROLLER://127.0.0.1:{controller}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{broker}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={kafka_home(settings) / 'data'}",
            # Topics are created on purpose (certamen up, the tests), never by a typo.
            "auto.create.topics.enable=false",
            "num.partitions=1",
            # One node: every internal topic has a single replica, and fewer partitions
            # than the defaults (50) so that the first consumer group starts fast.
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=10",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=4",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "",
        ]
    )


def prepare(settings: Settings, java: Path, libs: Path) -> list[str]:
    """Write the configuration, format the storage once, return the command that runs Kafka."""
    home = kafka_home(settings)
    (home / "data").mkdir(parents=True, exist_ok=True)
    config = home / "server.properties"
    config.write_text(server_properties(settings), encoding="utf-8")
    base = [
        str(java),
        *JVM_OPTIONS,
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        "-cp",
        f"{libs}/*",
    ]
    if not (home / "data" / "meta.properties").exists():
        _format(base, config)
    return [*base, "kafka.Kafka", str(config)]


def _format(base: list[str], config: Path) -> None:
    """Format KRaft storage with a fresh cluster id (what ``kafka-storage.sh format`` does)."""
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    done = subprocess.run(
        [
            *base,
            "kafka.tools.StorageTool",
            "format",
            "--config",
            str(config),
            # One argument: a random id may start with "-", which the tool's parser
            # takes for an option (seen in CI: "--cluster-id: expected one argument").
            f"--cluster-id={cluster_id}",
            "--ignore-formatted",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if done.returncode != 0:
        raise PartFailed(
            "kafka", f"formatting the storage failed:\n{done.stdout}{done.stderr}".rstrip()
        )
