"""What the app creates once per process: the settings, the Redis and MongoDB clients, the catalog.

``st.cache_resource`` keeps one of each for every session and rerun. The
clients connect lazily with short timeouts, so a server that is down at
start-up only costs the part of the page that needs it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import redis
import streamlit as st
from pymongo import MongoClient
from pymongo.database import Database

from certamen.contract import Catalog, load_catalog
from certamen.settings import Settings, load

CONNECT_TIMEOUT_S = 1.0
READ_TIMEOUT_S = 5.0


@st.cache_resource(show_spinner=False)
def settings() -> Settings:
    """The process's settings, read from the environment once."""
    return load()


def _close_redis(client: redis.Redis) -> None:
    client.close()


def _close_mongo(db: Database[dict[str, Any]]) -> None:
    db.client.close()


@st.cache_resource(show_spinner=False, on_release=_close_redis)
def redis_client() -> redis.Redis:
    """The one Redis client of the app (a connection pool)."""
    return redis.Redis.from_url(
        settings().redis_url,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=READ_TIMEOUT_S,
    )


@st.cache_resource(show_spinner=False, on_release=_close_mongo)
def mongo_database() -> Database[dict[str, Any]]:
    """The contest's MongoDB database, from the one client of the app."""
    client: MongoClient[dict[str, Any]] = MongoClient(
        settings().mongodb_uri,
        serverSelectionTimeoutMS=int(CONNECT_TIMEOUT_S * 1500),
        connectTimeoutMS=int(CONNECT_TIMEOUT_S * 1000),
        socketTimeoutMS=int(READ_TIMEOUT_S * 1000),
        appname="certamen-streamlit",
    )
    return client[settings().mongodb_database]


@st.cache_resource(show_spinner=False)
def catalog() -> Catalog | None:
    """The contest catalog when ``CERTAMEN_CATALOG`` names one; raises CatalogError if bad."""
    path = settings().catalog_path
    return None if path is None else load_catalog(path, year_now=datetime.now(UTC).year)
