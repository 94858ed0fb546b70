"""Settings: defaults, overrides, a clear error naming the variable, secrets never shown."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from certamen.settings import Ports, SettingsError, load, redact_url


def test_defaults_are_the_local_stack() -> None:
    settings = load({})
    assert settings.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.mongodb_uri == "mongodb://127.0.0.1:27017/"
    assert settings.mongodb_database == "certamen"
    assert (settings.votes_topic, settings.dlq_topic) == ("votes", "votes-dlq")
    assert settings.catalog_path is None
    assert settings.state_dir == Path(".certamen")
    assert settings.cache_dir == Path.home() / ".cache" / "certamen"
    assert settings.port is None
    assert settings.external == frozenset()
    assert settings.source.sink == "http://127.0.0.1:8081"
    assert (settings.source.initial_offset, settings.source.ordering) == ("earliest", "unordered")
    assert settings.legacy_records == "reject"


def test_default_ports_match_the_design() -> None:
    ports = load({}).ports
    assert (ports.kafka, ports.kafka_controller, ports.redis, ports.mongodb) == (
        9092,
        9093,
        6379,
        27017,
    )
    assert (ports.producer_grpc, ports.producer_wasm, ports.consumer, ports.streamlit) == (
        50051,
        8080,
        8081,
        8501,
    )


def test_every_port_has_its_variable() -> None:
    env = {f"CERTAMEN_{f.name.upper()}_PORT": str(19000 + i) for i, f in enumerate(fields(Ports))}
    ports = load(env).ports
    for i, f in enumerate(fields(Ports)):
        assert getattr(ports, f.name) == 19000 + i, f.name


def test_port_variables_move_the_default_addresses() -> None:
    settings = load(
        {
            "CERTAMEN_KAFKA_PORT": "19092",
            "CERTAMEN_REDIS_PORT": "19379",
            "CERTAMEN_MONGODB_PORT": "19017",
            "CERTAMEN_CONSUMER_PORT": "19081",
        }
    )
    assert settings.kafka_bootstrap_servers == "127.0.0.1:19092"
    assert settings.redis_url == "redis://127.0.0.1:19379/0"
    assert settings.mongodb_uri == "mongodb://127.0.0.1:19017/"
    assert settings.source.sink == "http://127.0.0.1:19081"
    assert settings.external == frozenset(), "a moved port is still ours to start"


def test_server_variables_mark_servers_as_external() -> None:
    settings = load(
        {
            "KAFKA_BOOTSTRAP_SERVERS": "kafka.example:9092",
            "REDIS_URL": "redis://cache.example:6379/3",
            "MONGODB_URI": "",
        }
    )
    assert settings.external == frozenset({"KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL"})
    assert settings.kafka_bootstrap_servers == "kafka.example:9092"
    assert settings.redis_url == "redis://cache.example:6379/3"
    assert settings.mongodb_uri == "mongodb://127.0.0.1:27017/", "empty means unset"


def test_overrides_are_read() -> None:
    settings = load(
        {
            "PORT": "9000",
            "CERTAMEN_CATALOG": "load/data/catalog.yaml",
            "CERTAMEN_STATE_DIR": "/tmp/somewhere",
            "CERTAMEN_CACHE_DIR": "/tmp/cache",
            "K_SINK": "http://consumer.example",
            "CERTAMEN_SOURCE_WINDOW": "7",
            "CERTAMEN_SOURCE_BACKOFF_POLICY": "linear",
            "CERTAMEN_TOPIC": "t",
            "CERTAMEN_DLQ_TOPIC": "t-dlq",
            "CERTAMEN_LEGACY_RECORDS": "accept",
            "CERTAMEN_INGRESS_CPUS": "1",
            "CERTAMEN_SCHED_POLICY": "normal",
        }
    )
    assert settings.port == 9000
    assert settings.catalog_path == Path("load/data/catalog.yaml")
    assert settings.state_dir == Path("/tmp/somewhere")
    assert settings.cache_dir == Path("/tmp/cache")
    assert settings.source.sink == "http://consumer.example"
    assert settings.source.window == 7
    assert settings.source.backoff_policy == "linear"
    assert (settings.votes_topic, settings.dlq_topic) == ("t", "t-dlq")
    assert settings.legacy_records == "accept"
    assert settings.ingress_cpus == 1
    assert settings.sched_policy == "normal"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CERTAMEN_KAFKA_PORT", "abc"),
        ("CERTAMEN_KAFKA_PORT", "0"),
        ("CERTAMEN_REDIS_PORT", "65536"),
        ("CERTAMEN_CONSUMER_PORT", "8081.5"),
        ("PORT", "-1"),
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("MONGODB_URI", "postgres://127.0.0.1/"),
        ("CERTAMEN_SOURCE_WINDOW", "0"),
        ("CERTAMEN_SOURCE_RETRY", "many"),
        ("CERTAMEN_SOURCE_ORDERING", "random"),
        ("CERTAMEN_SOURCE_INITIAL_OFFSET", "middle"),
        ("CERTAMEN_SOURCE_BACKOFF_POLICY", "fibonacci"),
        ("CERTAMEN_SOURCE_BACKOFF_DELAY", "-1"),
        ("CERTAMEN_SOURCE_BACKOFF_DELAY", "nan"),
        ("CERTAMEN_KAFKA_TIMEOUT", "0"),
        ("CERTAMEN_TIMEZONE", "Guatemala City"),
        ("CERTAMEN_TIMEZONE", "../../etc/passwd"),
        ("CERTAMEN_STREAMLIT_VISIBILITY", "everyone"),
        ("CERTAMEN_ORGANISERS", "ana@example.org, not-an-address"),
        ("CERTAMEN_ORGANISERS", "ana @example.org"),
        ("CERTAMEN_LEGACY_RECORDS", "yes"),
        ("CERTAMEN_INGRESS_CPUS", "-1"),
        ("CERTAMEN_INGRESS_CPUS", "100000"),
        ("CERTAMEN_SCHED_POLICY", "fifo"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load({variable: value})
    assert caught.value.variable == variable
    assert str(caught.value).startswith(f"{variable}: ")


def test_a_bad_url_does_not_echo_its_password() -> None:
    with pytest.raises(SettingsError) as caught:
        load({"REDIS_URL": "http://user:hunter2@cache.example:6379"})
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@cache.example:6379/0", "redis://:***@cache.example:6379/0"),
        ("mongodb://admin:p%40ss@db.example:27017/", "mongodb://admin:***@db.example:27017/"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ],
)
def test_redact_url_hides_passwords(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_settings_show_redacted_addresses() -> None:
    settings = load(
        {
            "REDIS_URL": "redis://:s3cret@cache.example:6379/0",
            "MONGODB_URI": "mongodb://admin:hunter2@db.example:27017/",
        }
    )
    assert "s3cret" not in settings.redis_url_redacted
    assert "hunter2" not in settings.mongodb_uri_redacted
    assert settings.redis_url == "redis://:s3cret@cache.example:6379/0", "the real one still works"


def test_times_are_shown_in_the_contest_time_zone_by_default() -> None:
    assert load({}).timezone == "America/Guatemala"
    assert load({"CERTAMEN_TIMEZONE": "Europe/Madrid"}).timezone == "Europe/Madrid"


def test_the_app_is_local_off_knative_and_public_on_it() -> None:
    assert load({}).webapp.visibility == "local"
    on_knative = load({"K_SERVICE": "streamlit"}).webapp
    assert (on_knative.visibility, on_knative.on_knative) == ("public", True)
    explicit = {"K_SERVICE": "streamlit", "CERTAMEN_STREAMLIT_VISIBILITY": "cluster-local"}
    assert load(explicit).webapp.visibility == "cluster-local"


def test_a_knative_service_is_never_local() -> None:
    with pytest.raises(SettingsError, match="CERTAMEN_STREAMLIT_VISIBILITY: on Knative"):
        load({"K_SERVICE": "streamlit", "CERTAMEN_STREAMLIT_VISIBILITY": "local"})


def test_organisers_and_secrets_files_are_read() -> None:
    webapp = load(
        {
            "CERTAMEN_ORGANISERS": " Ana@Example.org ,bo@example.gt,",
            "CERTAMEN_STREAMLIT_SECRETS": "/etc/a/secrets.toml:/etc/certamen/streamlit",
        }
    ).webapp
    assert webapp.organisers == frozenset({"ana@example.org", "bo@example.gt"})
    assert webapp.secrets_files == (Path("/etc/a/secrets.toml"), Path("/etc/certamen/streamlit"))
    default = load({}).webapp.secrets_files
    assert default == (Path.home() / ".streamlit" / "secrets.toml", Path(".streamlit/secrets.toml"))
