"""Configuration, read once from the environment at the edge of each process.

No other module reads ``os.environ``: entry points call :func:`load` and pass
the result (or the parts they need) inward. A bad value fails fast with the
variable's name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_KAFKA = "127.0.0.1:9092"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
DEFAULT_MONGODB = "mongodb://127.0.0.1:27017/"

Ordering = Literal["ordered", "unordered"]
BackoffPolicy = Literal["linear", "exponential"]
InitialOffset = Literal["earliest", "latest"]
KafkaCompression = Literal["none", "gzip", "lz4"]
LegacyRecords = Literal["reject", "accept"]
SchedPolicy = Literal["batch", "normal"]
# Who can reach the organisers' app: this machine only, the cluster only, or anyone.
Visibility = Literal["local", "cluster-local", "public"]
DEFAULT_TIMEZONE = "America/Guatemala"


class SettingsError(ValueError):
    """An environment variable holds a value we cannot use."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


@dataclass(frozen=True, slots=True)
class SourceSettings:
    """The local KafkaSource stand-in, configured like a KafkaSource spec."""

    sink: str = "http://127.0.0.1:8081"
    consumer_group: str = "certamen-consumer"
    initial_offset: InitialOffset = "earliest"
    ordering: Ordering = "unordered"
    window: int = 50
    retry: int = 10
    backoff_policy: BackoffPolicy = "exponential"
    backoff_delay_s: float = 0.2


@dataclass(frozen=True, slots=True)
class Ports:
    """Where the local stack's parts listen (``CERTAMEN_<PART>_PORT``); Knative sets ``PORT``."""

    kafka: int = 9092
    kafka_controller: int = 9093
    redis: int = 6379
    mongodb: int = 27017
    producer_grpc: int = 50051
    producer_wasm: int = 8080
    consumer: int = 8081
    streamlit: int = 8501
    source_metrics: int = 9464
    producer_grpc_metrics: int = 9465
    consumer_metrics: int = 9466
    producer_wasm_metrics: int = 9467


@dataclass(frozen=True, slots=True)
class WebAppSettings:
    """The organisers' app: who may reach it, where its sign-in is configured, who may replay.

    Sign-in is Streamlit's own (``st.login``), configured by the ``[auth]`` section
    of Streamlit's secrets files; ``certamen streamlit`` passes ``secrets_files``
    to Streamlit so that the app and the check before it starts read the same files.
    """

    visibility: Visibility = "local"
    # Streamlit's own default places, unless CERTAMEN_STREAMLIT_SECRETS names others.
    secrets_files: tuple[Path, ...] = field(
        default_factory=lambda: (
            Path.home() / ".streamlit" / "secrets.toml",
            Path(".streamlit") / "secrets.toml",
        )
    )
    # E-mail addresses (lower case) of the accounts that may replay dead letters.
    organisers: frozenset[str] = frozenset()
    # Knative sets K_SERVICE in every container it runs.
    on_knative: bool = False


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a Certamen process may need, typed and validated."""

    kafka_bootstrap_servers: str = DEFAULT_KAFKA
    redis_url: str = DEFAULT_REDIS
    mongodb_uri: str = DEFAULT_MONGODB
    mongodb_database: str = "certamen"
    votes_topic: str = "votes"
    dlq_topic: str = "votes-dlq"
    catalog_path: Path | None = None
    state_dir: Path = Path(".certamen")
    # Downloads and builds shared by every clone: Kafka's jars, the FerretDB binary.
    cache_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "certamen")
    port: int | None = None
    # Where servers listen: 127.0.0.1 on one machine, 0.0.0.0 in a Knative pod.
    bind_host: str = "127.0.0.1"
    kafka_timeout_s: float = 5.0
    kafka_compression: KafkaCompression = "none"
    # Calls a producer process lets wait for Kafka at once; past it, UNAVAILABLE / 503.
    producer_max_in_flight: int = 4096
    # How much less CPU priority `certamen up` gives the counting side (nice 0-19).
    counting_nice: int = 10
    # CPUs `certamen up` keeps for the producers alone, the other parts on the rest; 0: off.
    ingress_cpus: int = 0
    # Linux scheduling policy of every process `certamen up` starts: batch (no wake-up
    # preemption between them) or normal.
    sched_policy: SchedPolicy = "batch"
    # Records of the original Go producer: dead letters, or votes of channel legacy.
    legacy_records: LegacyRecords = "reject"
    source: SourceSettings = field(default_factory=SourceSettings)
    ports: Ports = field(default_factory=Ports)
    # The contest's time zone: times are stored in UTC and shown in this zone.
    timezone: str = DEFAULT_TIMEZONE
    webapp: WebAppSettings = field(default_factory=WebAppSettings)
    # Which servers the user pointed us at: those are used, never started.
    external: frozenset[str] = frozenset()

    @property
    def mongodb_uri_redacted(self) -> str:
        """The MongoDB URI without its password, fit for logs and tables."""
        return redact_url(self.mongodb_uri)

    @property
    def redis_url_redacted(self) -> str:
        """The Redis URL without its password, fit for logs and tables."""
        return redact_url(self.redis_url)


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings once; call this at a process's entry point only."""
    env = os.environ if environ is None else environ
    external = frozenset(
        name for name in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "MONGODB_URI") if env.get(name)
    )
    catalog = env.get("CERTAMEN_CATALOG") or None
    ports = Ports(
        **{
            name: _int(env, f"CERTAMEN_{name.upper()}_PORT", default, low=1, high=65535)
            for name, default in asdict(Ports()).items()
        }
    )
    source = SourceSettings(
        sink=_text(env, "K_SINK", f"http://127.0.0.1:{ports.consumer}"),
        consumer_group=_text(env, "CERTAMEN_SOURCE_GROUP", "certamen-consumer"),
        initial_offset=_choice(
            env, "CERTAMEN_SOURCE_INITIAL_OFFSET", ("earliest", "latest"), "earliest"
        ),
        ordering=_choice(env, "CERTAMEN_SOURCE_ORDERING", ("ordered", "unordered"), "unordered"),
        window=_int(env, "CERTAMEN_SOURCE_WINDOW", 50, low=1, high=10_000),
        retry=_int(env, "CERTAMEN_SOURCE_RETRY", 10, low=0, high=1_000),
        backoff_policy=_choice(
            env, "CERTAMEN_SOURCE_BACKOFF_POLICY", ("linear", "exponential"), "exponential"
        ),
        backoff_delay_s=_float(env, "CERTAMEN_SOURCE_BACKOFF_DELAY", 0.2, low=0.0),
    )
    port = env.get("PORT")
    on_knative = bool(env.get("K_SERVICE"))
    secrets = env.get("CERTAMEN_STREAMLIT_SECRETS", "").strip()
    webapp = WebAppSettings(
        visibility=_visibility(env, on_knative),
        secrets_files=(
            tuple(Path(p).expanduser() for p in secrets.split(os.pathsep) if p.strip())
            if secrets
            else WebAppSettings().secrets_files
        ),
        organisers=_emails(env, "CERTAMEN_ORGANISERS"),
        on_knative=on_knative,
    )
    return Settings(
        kafka_bootstrap_servers=_text(env, "KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{ports.kafka}"),
        redis_url=_url(
            env, "REDIS_URL", f"redis://127.0.0.1:{ports.redis}/0", ("redis", "rediss", "unix")
        ),
        mongodb_uri=_url(
            env, "MONGODB_URI", f"mongodb://127.0.0.1:{ports.mongodb}/", ("mongodb", "mongodb+srv")
        ),
        mongodb_database=_text(env, "MONGODB_DATABASE", "certamen"),
        votes_topic=_text(env, "CERTAMEN_TOPIC", "votes"),
        dlq_topic=_text(env, "CERTAMEN_DLQ_TOPIC", "votes-dlq"),
        catalog_path=Path(catalog) if catalog else None,
        state_dir=Path(_text(env, "CERTAMEN_STATE_DIR", ".certamen")),
        cache_dir=Path(_text(env, "CERTAMEN_CACHE_DIR", "~/.cache/certamen")).expanduser(),
        port=None if not port else _int(env, "PORT", 0, low=1, high=65535),
        bind_host=_text(env, "CERTAMEN_BIND_HOST", "127.0.0.1"),
        kafka_timeout_s=_float(env, "CERTAMEN_KAFKA_TIMEOUT", 5.0, low=0.1),
        kafka_compression=_choice(
            env, "CERTAMEN_KAFKA_COMPRESSION", ("none", "gzip", "lz4"), "none"
        ),
        producer_max_in_flight=_int(
            env, "CERTAMEN_PRODUCER_MAX_IN_FLIGHT", 4096, low=1, high=1_000_000
        ),
        counting_nice=_int(env, "CERTAMEN_COUNTING_NICE", 10, low=0, high=19),
        ingress_cpus=_int(
            env, "CERTAMEN_INGRESS_CPUS", 0, low=0, high=len(os.sched_getaffinity(0))
        ),
        sched_policy=_choice(env, "CERTAMEN_SCHED_POLICY", ("batch", "normal"), "batch"),
        legacy_records=_choice(env, "CERTAMEN_LEGACY_RECORDS", ("reject", "accept"), "reject"),
        source=source,
        ports=ports,
        timezone=_timezone(env, "CERTAMEN_TIMEZONE"),
        webapp=webapp,
        external=external,
    )


def child_environment(overrides: Mapping[str, str]) -> dict[str, str]:
    """This process's environment plus ``overrides``: for the processes ``certamen up`` starts."""
    return {**os.environ, **overrides}


def redact_url(url: str) -> str:
    """Replace the password of a URL with ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def redis_db(url: str) -> int:
    """The database number a Redis URL names (its path; ``?db=`` for ``unix://``), 0 if none."""
    parts = urlsplit(url)
    named = parse_qs(parts.query).get("db", [""])[-1] if parts.scheme == "unix" else parts.path
    return int(named.strip("/")) if named.strip("/").isdigit() else 0


def with_redis_db(url: str, db: int) -> str:
    """The same Redis server with database ``db``: for tests and benchmarks that must not
    touch the live tally (database 0 of ``certamen up``)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "db"] + [("db", str(db))]
        return f"{url.partition('?')[0]}?{urlencode(query)}"
    return urlunsplit(parts._replace(path=f"/{db}"))


def _text(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip()
    return value or default


def _url(env: Mapping[str, str], name: str, default: str, schemes: tuple[str, ...]) -> str:
    value = _text(env, name, default)
    scheme = urlsplit(value).scheme
    if scheme not in schemes:
        raise SettingsError(name, f"scheme must be one of {', '.join(schemes)}, not {scheme!r}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(name, f"must be a whole number, not {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(name, f"must be between {low} and {high}, not {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, low: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(name, f"must be a number, not {raw!r}") from None
    if not value >= low:
        raise SettingsError(name, f"must be at least {low}, not {raw}")
    return value


def _timezone(env: Mapping[str, str], name: str) -> str:
    zone = _text(env, name, DEFAULT_TIMEZONE)
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(name, f"not a time zone of the tz database: {zone!r}") from None
    return zone


def _visibility(env: Mapping[str, str], on_knative: bool) -> Visibility:
    visibility: Visibility = _choice(
        env,
        "CERTAMEN_STREAMLIT_VISIBILITY",
        ("local", "cluster-local", "public"),
        "public" if on_knative else "local",
    )
    if on_knative and visibility == "local":
        raise SettingsError(
            "CERTAMEN_STREAMLIT_VISIBILITY",
            "on Knative (K_SERVICE is set) the app is reached through its route: "
            "cluster-local or public",
        )
    return visibility


def _emails(env: Mapping[str, str], name: str) -> frozenset[str]:
    addresses = [a.strip() for a in env.get(name, "").split(",") if a.strip()]
    for address in addresses:
        local, at, domain = address.partition("@")
        if not (local and at and domain) or "@" in domain or any(c.isspace() for c in address):
            raise SettingsError(name, f"not an e-mail address: {address!r}")
    return frozenset(a.lower() for a in addresses)


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> Any:
    raw = env.get(name, "").strip() or default
    if raw not in choices:
        raise SettingsError(name, f"must be one of {', '.join(choices)}, not {raw!r}")
    return raw
