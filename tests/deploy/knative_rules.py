"""What the Knative code we run does not check: eventing-kafka-broker's KafkaSource rules, ours.

Serving's and Eventing's own validation runs through ``knative_webhook.py``. What
is left here:

- KafkaSource fields that only ``knative.dev/eventing-kafka-broker``'s webhook
  checks (``kafka_validation.go`` of knative-v1.23.0), a module the Go module
  proxy does not serve, and that its CRD (``crds/``) leaves open: topics and
  bootstrap servers not empty, ``initialOffset`` and ``ordering`` from their lists.
- Our own rules, stricter than Knative: a KafkaSource must say where failed
  events go (``delivery``) and which consumer group it is (the lag panels and
  Kafka Exporter name it); a probe must target the port the container serves
  (Knative lets a port number through, and the probe would then miss the server).

Each function returns the violations it found as readable sentences.
"""

from __future__ import annotations

import re
from typing import Any

from tests.deploy.render import Manifest

PROBES = ("readinessProbe", "livenessProbe", "startupProbe")
# Knative's default container port when none is declared.
DEFAULT_PORT = 8080


def kafka_source_violations(source: Manifest) -> list[str]:
    """eventing-kafka-broker's KafkaSource checks, and ours."""
    spec = source["spec"]
    out: list[str] = []
    if not spec.get("topics"):
        out.append("no topic")
    if not spec.get("bootstrapServers"):
        out.append("no bootstrap server")
    if spec.get("initialOffset", "latest") not in ("earliest", "latest"):
        out.append(f"initialOffset {spec['initialOffset']!r} is not earliest or latest")
    if spec.get("ordering", "ordered") not in ("ordered", "unordered"):
        out.append(f"ordering {spec['ordering']!r} is not ordered or unordered")
    if not spec.get("consumerGroup"):
        out.append("no consumerGroup: the webhook would make up a random one")
    if "delivery" not in spec:
        out.append("no delivery: KafkaSource would try each event once and then drop it")
    return out


def probe_port_violations(ksvc: Manifest) -> list[str]:
    """Probes of a Knative Service's containers that name a port other than the one served."""
    out: list[str] = []
    for container in ksvc["spec"]["template"]["spec"]["containers"]:
        ports: list[dict[str, Any]] = container.get("ports", [])
        served = ports[0] if ports else {}
        number = served.get("containerPort", DEFAULT_PORT)
        for kind in PROBES:
            for handler, settings in container.get(kind, {}).items():
                target = settings.get("port") if isinstance(settings, dict) else None
                if isinstance(target, int) and target not in (0, number):
                    out.append(
                        f"{container['name']}: {kind}.{handler}.port {target} is not {number}"
                    )
    return out


def iso_duration_seconds(text: str) -> float | None:
    """An ISO 8601 duration of days and time ("PT0.2S", "P1DT2H") in seconds, or None."""
    match = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", text)
    if not match or text in ("P", "PT") or text.endswith("T"):
        return None
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + seconds
