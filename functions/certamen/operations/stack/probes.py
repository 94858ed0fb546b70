"""Readiness checks: is a part answering the way its users will talk to it?

Each probe makes one short attempt and returns True or False; the runner calls
it repeatedly until a deadline. Clients made here are closed right away.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

Probe = Callable[[], bool]
_ATTEMPT_S = 2.0


def port_open(host: str, port: int) -> bool:
    """Something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=_ATTEMPT_S):
            return True
    except OSError:
        return False


def tcp(host: str, port: int) -> Probe:
    """Ready once the port accepts connections."""
    return lambda: port_open(host, port)


def http_ok(url: str) -> Probe:
    """Ready once ``GET url`` answers 200."""

    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=_ATTEMPT_S) as response:
                return int(response.status) == 200
        except (OSError, urllib.error.URLError, ValueError):
            return False

    return probe


def kafka(bootstrap_servers: str) -> Probe:
    """Ready once a broker answers a metadata request (topics can then be created)."""

    def probe() -> bool:
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaConfigurationError, KafkaError

        first = bootstrap_servers.split(",")[0]
        parts = urlsplit(f"//{first}")
        if not port_open(parts.hostname or "127.0.0.1", parts.port or 9092):
            return False  # kafka-python would log a stack of connection errors
        with _quiet("kafka"):
            try:
                admin = KafkaAdminClient(
                    bootstrap_servers=bootstrap_servers,
                    request_timeout_ms=int(_ATTEMPT_S * 1000),
                    client_id="certamen-probe",
                )
            except KafkaConfigurationError:
                raise  # our mistake, not a server that is still starting
            except (KafkaError, OSError, ValueError):
                return False
            try:
                admin.list_topics()
                return bool(admin.describe_cluster().get("brokers"))
            except (KafkaError, OSError, ValueError):
                return False
            finally:
                admin.close()

    return probe


def redis(url: str) -> Probe:
    """Ready once Redis answers PING."""

    def probe() -> bool:
        import redis as redis_client

        client = redis_client.Redis.from_url(
            url, socket_timeout=_ATTEMPT_S, socket_connect_timeout=_ATTEMPT_S
        )
        try:
            return bool(client.ping())
        except (redis_client.RedisError, OSError):
            return False
        finally:
            client.close()

    return probe


def mongodb(uri: str) -> Probe:
    """Ready once the MongoDB-protocol server answers ``ping``."""

    def probe() -> bool:
        from pymongo import MongoClient
        from pymongo.errors import PyMongoError

        client: MongoClient[dict[str, object]] = MongoClient(
            uri,
            serverSelectionTimeoutMS=int(_ATTEMPT_S * 1000),
            connectTimeoutMS=int(_ATTEMPT_S * 1000),
        )
        try:
            client.admin.command("ping")
            return True
        except PyMongoError:
            return False
        finally:
            client.close()

    return probe


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Silence a client library's connection-error logging during a probe."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
