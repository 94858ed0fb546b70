"""What Knative's admission webhooks check and a CRD schema cannot say.

Taken from knative/serving's ``pkg/apis/serving/k8s_validation.go`` and
``pkg/apis/autoscaling`` (annotation_validation.go, register.go) and from the
defaults of ``config-features``, ``config-defaults`` and ``config-autoscaler`` of
a fresh install (knative-v1.23.0). Where the webhook is lenient and the manifest
would still misbehave (a probe on a port the container does not serve, an
autoscaling annotation on the Service instead of its revision template), the rule
here is stricter and says so.

Each function returns the violations it found, as readable sentences; an empty
list means the object would be admitted.
"""

from __future__ import annotations

import re
from typing import Any

from tests.deploy.render import Manifest

# networking.BackendHTTPPort, BackendHTTP2Port, QueueAdminPort,
# AutoscalingQueueMetricsPort, UserQueueMetricsPort, profiling.ProfilingPort.
RESERVED_PORTS = frozenset({8012, 8013, 8022, 9090, 9091, 8008})
PORT_NAMES = frozenset({"h2c", "http1", ""})
RESERVED_ENV = frozenset({"PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION"})
RESERVED_PATHS = frozenset({"/", "/dev", "/dev/log"})
RESERVED_CONTAINER_NAMES = frozenset({"queue-proxy"})
# Pod spec fields that config-features leaves "disabled" on a fresh install.
DISABLED_POD_FIELDS = {
    "affinity": "kubernetes.podspec-affinity",
    "topologySpreadConstraints": "kubernetes.podspec-topologyspreadconstraints",
    "hostAliases": "kubernetes.podspec-hostaliases",
    "nodeSelector": "kubernetes.podspec-nodeselector",
    "tolerations": "kubernetes.podspec-tolerations",
    "runtimeClassName": "kubernetes.podspec-runtimeclassname",
    "dnsPolicy": "kubernetes.podspec-dnspolicy",
    "dnsConfig": "kubernetes.podspec-dnsconfig",
    "securityContext": "kubernetes.podspec-securitycontext",
    "priorityClassName": "kubernetes.podspec-priorityclassname",
    "schedulerName": "kubernetes.podspec-schedulername",
    "initContainers": "kubernetes.podspec-init-containers",
}
PROBE_HANDLERS = ("httpGet", "tcpSocket", "exec", "grpc")
# config-defaults: max-revision-timeout-seconds, container-concurrency-max-limit.
MAX_TIMEOUT_SECONDS = 600
MAX_CONTAINER_CONCURRENCY = 1000

AUTOSCALING = "autoscaling.knative.dev/"
KPA = "kpa.autoscaling.knative.dev"
HPA = "hpa.autoscaling.knative.dev"
# Every autoscaling annotation the autoscaler reads, in both accepted spellings.
ANNOTATION_KEYS = {
    "class": ("class",),
    "metric": ("metric",),
    "target": ("target",),
    "min-scale": ("min-scale", "minScale"),
    "max-scale": ("max-scale", "maxScale"),
    "initial-scale": ("initial-scale", "initialScale"),
    "activation-scale": ("activation-scale",),
    "window": ("window",),
    "target-utilization-percentage": (
        "target-utilization-percentage",
        "targetUtilizationPercentage",
    ),
    "target-burst-capacity": ("target-burst-capacity", "targetBurstCapacity"),
    "panic-window-percentage": ("panic-window-percentage", "panicWindowPercentage"),
    "panic-threshold-percentage": ("panic-threshold-percentage", "panicThresholdPercentage"),
    "scale-down-delay": ("scale-down-delay", "scaleDownDelay"),
    "scale-to-zero-pod-retention-period": (
        "scale-to-zero-pod-retention-period",
        "scaleToZeroPodRetentionPeriod",
    ),
    "metric-aggregation-algorithm": ("metric-aggregation-algorithm",),
}
WINDOW_MIN_S, WINDOW_MAX_S = 6.0, 3600.0

_GO_DURATION = re.compile(r"^(?:(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+$")
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def service_violations(ksvc: Manifest) -> list[str]:
    """Everything the serving webhook would reject in a Knative Service, or we flag."""
    spec = ksvc["spec"]["template"].get("spec", {})
    out = _misplaced_annotations(ksvc)
    out += annotation_violations(
        ksvc["spec"]["template"].get("metadata", {}).get("annotations", {})
    )
    out += _pod_violations(spec)
    containers: list[dict[str, Any]] = spec.get("containers", [])
    ports = [p for c in containers for p in c.get("ports", [])]
    if not containers:
        out.append("no container")
    if len(containers) > 1:
        out.append("more than one container (multi-container needs a port on exactly one)")
    if len(ports) > 1:
        out.append("more than one container port is set; Knative routes to exactly one")
    port = ports[0] if ports else {"name": "", "containerPort": 8080}
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for container in containers:
        out += _container_violations(container, port, volumes)
    mounted = {m["name"] for c in containers for m in c.get("volumeMounts", [])}
    out += [f"volume {name!r} is not mounted" for name in volumes if name not in mounted]
    return out


def annotation_violations(annotations: dict[str, str]) -> list[str]:
    """autoscaling.knative.dev/* annotations: known keys, values in the webhook's ranges."""
    out: list[str] = []
    values: dict[str, str] = {}
    spellings = {s: k for k, names in ANNOTATION_KEYS.items() for s in names}
    for key, value in annotations.items():
        if not key.startswith(AUTOSCALING):
            continue
        name = key.removeprefix(AUTOSCALING)
        if name not in spellings:
            out.append(f"unknown annotation {key} (the autoscaler ignores it)")
        else:
            values[spellings[name]] = value
    out += _class_and_metric(values)
    out += _scales(values)
    out += _floats(values)
    out += _durations(values)
    return out


def kafka_source_violations(source: Manifest) -> list[str]:
    """What the eventing-kafka webhook checks in a KafkaSource, and a dead-letter sink."""
    spec = source["spec"]
    out: list[str] = []
    if not spec.get("consumerGroup"):
        out.append("consumerGroup is empty")
    if not spec.get("topics"):
        out.append("no topic")
    if not spec.get("bootstrapServers"):
        out.append("no bootstrap server")
    if spec.get("initialOffset", "latest") not in ("earliest", "latest"):
        out.append(f"initialOffset {spec['initialOffset']!r} is not earliest or latest")
    if spec.get("ordering", "ordered") not in ("ordered", "unordered"):
        out.append(f"ordering {spec['ordering']!r} is not ordered or unordered")
    if spec.get("consumers", 1) < 1:
        out.append("consumers must be at least 1")
    out += _destination_violations("sink", spec.get("sink"))
    delivery = spec.get("delivery")
    if delivery is None:
        out.append("no delivery: KafkaSource would try each event once and then drop it")
        return out
    if delivery.get("retry", 0) < 0:
        out.append("delivery.retry is negative")
    if delivery.get("backoffPolicy", "exponential") not in ("linear", "exponential"):
        out.append(
            f"delivery.backoffPolicy {delivery['backoffPolicy']!r} is not linear or exponential"
        )
    if "backoffDelay" in delivery and iso_duration_seconds(delivery["backoffDelay"]) is None:
        out.append(
            f"delivery.backoffDelay {delivery['backoffDelay']!r} is not an ISO 8601 duration"
        )
    out += _destination_violations("delivery.deadLetterSink", delivery.get("deadLetterSink"))
    return out


def go_duration_seconds(text: str) -> float | None:
    """A Go ``time.ParseDuration`` string ("60s", "1m30s") in seconds, or None."""
    if text == "0":
        return 0.0
    if not _GO_DURATION.match(text):
        return None
    return sum(float(n) * _GO_UNITS[u] for n, u in _GO_PART.findall(text))


def iso_duration_seconds(text: str) -> float | None:
    """An ISO 8601 duration of days and time ("PT0.2S", "P1DT2H") in seconds, or None."""
    match = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", text)
    if not match or text in ("P", "PT") or text.endswith("T"):
        return None
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


def _misplaced_annotations(ksvc: Manifest) -> list[str]:
    annotations = ksvc.get("metadata", {}).get("annotations", {})
    return [
        f"{key} is on the Service, where the autoscaler never reads it: "
        "put it on spec.template.metadata.annotations"
        for key in annotations
        if key.startswith(AUTOSCALING)
    ]


def _pod_violations(spec: dict[str, Any]) -> list[str]:
    out = [
        f"spec.template.spec.{field} needs the feature flag {flag} (disabled by default)"
        for field, flag in DISABLED_POD_FIELDS.items()
        if field in spec
    ]
    concurrency = spec.get("containerConcurrency")
    if concurrency is not None and not 0 <= concurrency <= MAX_CONTAINER_CONCURRENCY:
        out.append(f"containerConcurrency {concurrency} is not in 0..{MAX_CONTAINER_CONCURRENCY}")
    timeout = spec.get("timeoutSeconds")
    if timeout is not None and not 0 < timeout <= MAX_TIMEOUT_SECONDS:
        out.append(f"timeoutSeconds {timeout} is not in 1..{MAX_TIMEOUT_SECONDS}")
    for volume in spec.get("volumes", []):
        kinds = [k for k in volume if k != "name"]
        if kinds == ["persistentVolumeClaim"]:
            out.append(
                f"volume {volume['name']!r}: persistent volume claims are disabled by default"
            )
        elif kinds not in (["secret"], ["configMap"], ["projected"], ["emptyDir"]):
            out.append(f"volume {volume['name']!r}: {kinds} is not a volume Knative allows")
    return out


def _container_violations(
    container: dict[str, Any], port: dict[str, Any], volumes: dict[str, Any]
) -> list[str]:
    name = container.get("name", "")
    out: list[str] = []
    if name in RESERVED_CONTAINER_NAMES:
        out.append(f"container name {name!r} is reserved")
    if not container.get("image"):
        out.append(f"{name}: no image")
    for p in container.get("ports", []):
        if p.get("name", "") not in PORT_NAMES:
            out.append(f"{name}: port name {p['name']!r} is not h2c, http1 or empty")
        if p.get("containerPort", 8080) in RESERVED_PORTS:
            out.append(f"{name}: port {p['containerPort']} is reserved by Knative")
        if p.get("protocol", "TCP") != "TCP":
            out.append(f"{name}: port protocol {p['protocol']} is not TCP")
    for env in container.get("env", []):
        if env["name"] in RESERVED_ENV:
            out.append(f"{name}: environment variable {env['name']} is reserved (Knative sets it)")
    security = container.get("securityContext", {})
    if security.get("capabilities", {}).get("add"):
        out.append(f"{name}: adding capabilities needs kubernetes.containerspec-addcapabilities")
    for kind in ("readinessProbe", "livenessProbe"):
        if kind in container:
            out += [f"{name}: {kind}: {v}" for v in _probe_violations(container[kind], kind, port)]
    if "startupProbe" in container:
        out.append(f"{name}: a startupProbe is not used by Knative's queue-proxy; drop it")
    seen: set[str] = set()
    for mount in container.get("volumeMounts", []):
        path = mount.get("mountPath", "")
        clean = re.sub(r"/+$", "", path) or "/"
        if clean in RESERVED_PATHS:
            out.append(f"{name}: mountPath {path} is reserved")
        if not path.startswith("/"):
            out.append(f"{name}: mountPath {path!r} is not absolute")
        if clean in seen:
            out.append(f"{name}: mountPath {path} is mounted twice")
        seen.add(clean)
        volume = volumes.get(mount["name"])
        if volume is None:
            out.append(f"{name}: volumeMount {mount['name']!r} has no matching volume")
        elif "emptyDir" not in volume and not mount.get("readOnly"):
            out.append(f"{name}: volumeMount {mount['name']!r} must be readOnly")
    return out


def _probe_violations(probe: dict[str, Any], kind: str, port: dict[str, Any]) -> list[str]:
    handlers = [h for h in PROBE_HANDLERS if h in probe]
    out: list[str] = []
    if len(handlers) != 1:
        out.append(f"needs exactly one of {', '.join(PROBE_HANDLERS)}, has {handlers or 'none'}")
    for handler in handlers:
        target = probe[handler].get("port")
        if target is None or handler == "exec":
            continue
        if isinstance(target, str) and target != port.get("name", ""):
            out.append(f"port {target!r} is not the container port's name {port.get('name')!r}")
        if isinstance(target, int) and target != port.get("containerPort", 8080):
            # The webhook lets a number through; the probe would then miss the server.
            out.append(f"port {target} is not the container port {port.get('containerPort')}")
    # Knative's readiness probe defaults to periodSeconds 0 (its own fast probing);
    # a liveness probe is the kubelet's, with Kubernetes' default of 10.
    period = probe.get("periodSeconds", 0 if kind == "readinessProbe" else 10)
    if kind == "readinessProbe" and period == 0:
        for field in ("failureThreshold", "timeoutSeconds"):
            if probe.get(field, 0) != 0:
                out.append(f"{field} is disallowed when periodSeconds is zero")
    else:
        if period < 1:
            out.append("periodSeconds must be at least 1")
        for field in ("failureThreshold", "timeoutSeconds"):
            if field in probe and probe[field] < 1:
                out.append(f"{field} must be at least 1")
    if probe.get("successThreshold", 1) < 1:
        out.append("successThreshold must be at least 1")
    if kind == "livenessProbe" and probe.get("successThreshold", 1) != 1:
        out.append("successThreshold of a liveness probe must be 1")
    if probe.get("initialDelaySeconds", 0) < 0:
        out.append("initialDelaySeconds is negative")
    return out


def _class_and_metric(values: dict[str, str]) -> list[str]:
    out: list[str] = []
    cls = values.get("class", KPA)
    if cls.endswith(".knative.dev") and cls not in (KPA, HPA):
        out.append(f"class {cls!r} is neither {KPA} nor {HPA}")
    metric = values.get("metric")
    if metric is not None and cls == KPA and metric not in ("concurrency", "rps"):
        out.append(f"metric {metric!r} is not concurrency or rps (the KPA's metrics)")
    if metric is not None and cls == HPA and metric == "":
        out.append("metric is empty")
    algorithm = values.get("metric-aggregation-algorithm")
    if cls == KPA and algorithm not in (
        None,
        "linear",
        "weighted-exponential",
        "weightedExponential",
    ):
        out.append(f"metric-aggregation-algorithm {algorithm!r} is unknown")
    return out


def _whole(values: dict[str, str], key: str, out: list[str]) -> int | None:
    raw = values.get(key)
    if raw is None:
        return None
    if not re.fullmatch(r"\d+", raw):
        out.append(f"{key} {raw!r} is not a whole number >= 0")
        return None
    return int(raw)


def _scales(values: dict[str, str]) -> list[str]:
    out: list[str] = []
    low = _whole(values, "min-scale", out) or 0
    high = _whole(values, "max-scale", out) or 0
    if high and high < low:
        out.append(f"max-scale={high} is less than min-scale={low}")
    initial = _whole(values, "initial-scale", out)
    if initial == 0:
        out.append("initial-scale=0 needs allow-zero-initial-scale in config-autoscaler")
    activation = _whole(values, "activation-scale", out)
    if activation is not None:
        if activation < 2:
            out.append(f"activation-scale={activation} must be greater than 1")
        if activation < low or (high and activation > high):
            out.append(f"activation-scale={activation} is outside min-scale..max-scale")
    return out


def _float(values: dict[str, str], key: str, out: list[str]) -> float | None:
    raw = values.get(key)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        out.append(f"{key} {raw!r} is not a number")
        return None


def _floats(values: dict[str, str]) -> list[str]:
    out: list[str] = []
    target = _float(values, "target", out)
    if target is not None and target < 0.01:
        out.append(f"target {target} should be at least 0.01")
    ranges = {
        "target-utilization-percentage": (1.0, 100.0),
        "panic-window-percentage": (1.0, 100.0),
        "panic-threshold-percentage": (110.0, 1000.0),
    }
    for key, (low, high) in ranges.items():
        value = _float(values, key, out)
        if value is not None and not low <= value <= high:
            out.append(f"{key} {value} is not in {low:g}..{high:g}")
    burst = _float(values, "target-burst-capacity", out)
    if burst is not None and burst < 0 and burst != -1:
        out.append(f"target-burst-capacity {burst} is negative and not -1")
    return out


def _durations(values: dict[str, str]) -> list[str]:
    out: list[str] = []
    for key, low in (
        ("window", WINDOW_MIN_S),
        ("scale-down-delay", 0.0),
        ("scale-to-zero-pod-retention-period", 0.0),
    ):
        raw = values.get(key)
        if raw is None:
            continue
        seconds = go_duration_seconds(raw)
        if seconds is None:
            out.append(f"{key} {raw!r} is not a duration like 60s or 1m30s")
        elif not low <= seconds <= WINDOW_MAX_S:
            out.append(f"{key} {raw} is not between {low:g}s and 1h")
        elif key != "scale-to-zero-pod-retention-period" and seconds != int(seconds):
            out.append(f"{key} {raw} has sub-second precision")
    return out


def _destination_violations(where: str, destination: dict[str, Any] | None) -> list[str]:
    if not destination:
        return [f"{where} is missing"]
    if "ref" not in destination and "uri" not in destination:
        return [f"{where} has neither ref nor uri"]
    ref = destination.get("ref")
    if ref is not None and not all(ref.get(k) for k in ("apiVersion", "kind", "name")):
        return [f"{where}.ref needs apiVersion, kind and name"]
    return []
