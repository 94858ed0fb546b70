"""What the app creates once per process: the settings, how it is reached, the clients, the catalog.

``st.cache_resource`` keeps one of each for every session and rerun. The
clients connect lazily with short timeouts, so a server that is down at
start-up only costs the part of the page that needs it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import redis
import streamlit as st
from pymongo.database import Database

from certamen.adapters.mongo_store import make_mongo, vote_database
from certamen.adapters.redis_store import make_redis
from certamen.contract import Catalog, load_catalog
from certamen.dead_letters import DeadLetters
from certamen.results.access import Access, decide, read_auth, sign_in_configured
from certamen.settings import Settings, load

MONGODB_TIMEOUT_S = 1.5  # a page waits this long at most before saying MongoDB is away


@st.cache_resource(show_spinner=False)
def settings() -> Settings:
    """The process's settings, read from the environment once."""
    return load()


@st.cache_resource(show_spinner=False)
def access() -> Access:
    """Sign-in or open (``certamen.results.access``); raises AccessError when neither may be."""
    webapp = settings().webapp
    return decide(webapp, sign_in_configured(read_auth(webapp.secrets_files)))


def _close_redis(client: redis.Redis) -> None:
    client.close()


def _close_mongo(db: Database[dict[str, Any]]) -> None:
    db.client.close()


@st.cache_resource(show_spinner=False, on_release=_close_redis)
def redis_client() -> redis.Redis:
    """The one Redis client of the app (a pool with the consumer's short timeouts)."""
    return make_redis(settings())


@st.cache_resource(show_spinner=False, on_release=_close_mongo)
def mongo_database() -> Database[dict[str, Any]]:
    """The contest's MongoDB database, from the one client of the app."""
    return vote_database(make_mongo(settings(), timeout_s=MONGODB_TIMEOUT_S), settings())


@st.cache_resource(show_spinner=False)
def dead_letter_desk() -> DeadLetters:
    """The dead letters and the one replay the command uses too, over the app's clients."""
    return DeadLetters.from_settings(settings(), db=mongo_database(), redis=redis_client())


@st.cache_resource(show_spinner=False)
def catalog() -> Catalog | None:
    """The contest catalog when ``CERTAMEN_CATALOG`` names one; raises CatalogError if bad."""
    path = settings().catalog_path
    return None if path is None else load_catalog(path, year_now=datetime.now(UTC).year)
