"""Opening the consumer's stores: clients created once, checked, and wired into a Handler."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from pymongo import MongoClient

from certamen.adapters.mongo_store import (
    Document,
    VoteLog,
    ensure_indexes,
    make_mongo,
    vote_database,
)
from certamen.adapters.redis_store import TallyWriter, make_redis
from certamen.consumer.handler import Handler, Tally, VoteStore
from certamen.contract import Catalog, load_catalog
from certamen.settings import Settings

# Votes committed together at most (one insert_many, one Redis script call): more than the
# local source keeps in flight (its window, 50), so a batch is simply "whatever arrived
# while the previous one was written"; on Knative, containerConcurrency bounds it too.
MAX_BATCH = 64


@dataclass(frozen=True, slots=True)
class Stores:
    """The open clients of one process, to close on the way out."""

    redis: redis.Redis
    mongo: MongoClient[Document]
    handler: Handler

    def close(self) -> None:
        """Finish the votes being committed, then close both clients."""
        self.handler.close()
        self.redis.close()
        self.mongo.close()


def utc_now() -> datetime:
    """The consumer's clock (``processed_at``, ``failed_at``)."""
    return datetime.now(UTC)


def open_stores(
    settings: Settings, *, prepare: bool, on_batch: Callable[[int], object] = lambda size: None
) -> Stores:
    """Create and ping the clients; with ``prepare``, also create indexes and seed the counters.

    Raises ``StoreUnavailable`` when a store does not answer, ``CatalogError`` for a
    bad catalog: the caller reports either and does not start.
    """
    catalog = load_consumer_catalog(settings)
    client = make_redis(settings)
    mongo = make_mongo(settings)
    try:
        tally = TallyWriter(client)
        vote_log = VoteLog(vote_database(mongo, settings))
        tally.ping()
        vote_log.ping()
        if prepare:
            ensure_indexes(vote_database(mongo, settings))
            tally.seed_contest(catalog)
    except BaseException:
        client.close()
        mongo.close()
        raise
    handler = make_handler(
        settings, vote_log, tally, catalog=catalog, max_batch=MAX_BATCH, on_batch=on_batch
    )
    return Stores(redis=client, mongo=mongo, handler=handler)


def make_handler(
    settings: Settings,
    vote_log: VoteStore,
    tally: Tally,
    *,
    catalog: Catalog | None,
    max_batch: int = 1,
    on_batch: Callable[[int], object] = lambda size: None,
) -> Handler:
    """The consumer's Handler as the settings say (the catalog, legacy records): for the
    consumer's workers and for the replay of dead letters, which must judge alike."""
    return Handler(
        vote_log,
        tally,
        catalog=catalog,
        clock=utc_now,
        accept_legacy=settings.legacy_records == "accept",
        max_batch=max_batch,
        on_batch=on_batch,
    )


def load_consumer_catalog(settings: Settings) -> Catalog | None:
    """The catalog the settings name, if any; ``CatalogError`` when it cannot be used."""
    if settings.catalog_path is None:
        return None
    return load_catalog(settings.catalog_path, year_now=utc_now().year)
