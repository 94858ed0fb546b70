"""A stack of a test's own: ``certamen up`` in a temporary state folder, on free ports.

``own_stack_environment``: the producers, the source, the consumer and the app get
free ports of the test's range, their own topics, consumer group and MongoDB
database; Kafka, Redis and MongoDB are the session's, named by URL, so ``certamen
up`` only checks them and ``certamen down`` leaves them alone.
``whole_stack_environment``: every part of the test's own, servers included (for a
test that kills them). Either way a stack already running on the machine (the
demo's, on the default ports) is never touched.
"""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import redis

from certamen.adapters.mongo_store import make_mongo
from certamen.settings import Ports, Settings, child_environment, load
from tests.support.own_stores import empty_redis
from tests.support.processes import take_free_ports

# The servers' ports (a stack that brings its own servers moves them too); every other
# port of settings.Ports is an application part's.
_SERVER_PORTS = ("KAFKA", "KAFKA_CONTROLLER", "REDIS", "MONGODB")
_APP_PORTS = tuple(
    f.name.upper() for f in dataclasses.fields(Ports) if f.name.upper() not in _SERVER_PORTS
)


def own_stack_environment(
    infra: Settings, state_dir: Path, ports: range, *, catalog: Path | None
) -> dict[str, str]:
    """The environment of ``certamen`` commands for a stack of the test's own."""
    suffix = uuid.uuid4().hex[:8]
    chosen = take_free_ports(ports, len(_APP_PORTS))
    env = child_environment(
        {
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
            "REDIS_URL": infra.redis_url,
            "MONGODB_URI": infra.mongodb_uri,
            "MONGODB_DATABASE": f"certamen_stack_{suffix}",
            "CERTAMEN_TOPIC": f"votes-stack-{suffix}",
            "CERTAMEN_DLQ_TOPIC": f"votes-dlq-stack-{suffix}",
            "CERTAMEN_SOURCE_GROUP": f"stack-{suffix}",
            "CERTAMEN_STATE_DIR": str(state_dir),
            **{
                f"CERTAMEN_{name}_PORT": str(port)
                for name, port in zip(_APP_PORTS, chosen, strict=True)
            },
        }
    )
    env.pop("PORT", None)
    if catalog is None:
        env.pop("CERTAMEN_CATALOG", None)
    else:
        env["CERTAMEN_CATALOG"] = str(catalog)
    return env


def whole_stack_environment(state_dir: Path, ports: range) -> dict[str, str]:
    """The environment of ``certamen`` commands for a whole stack of the test's own."""
    names = (*_SERVER_PORTS, *_APP_PORTS)
    chosen = take_free_ports(ports, len(names))
    external = {"KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "MONGODB_URI", "PORT"}
    env = {k: v for k, v in child_environment({}).items() if k not in external}
    env.update(
        {f"CERTAMEN_{name}_PORT": str(port) for name, port in zip(names, chosen, strict=True)}
    )
    env["CERTAMEN_STATE_DIR"] = str(state_dir)
    return env


def empty_own_stack(env: dict[str, str]) -> None:
    """Empty what the stack wrote: the tests' Redis database and its MongoDB database."""
    settings = load(env)
    store = redis.Redis.from_url(settings.redis_url)
    try:
        empty_redis(store)
    finally:
        store.close()
    mongo = make_mongo(settings)
    try:
        mongo.drop_database(settings.mongodb_database)
    finally:
        mongo.close()
