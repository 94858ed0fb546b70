"""The one error the store adapters raise for "the server is away": callers retry, never drop."""

from __future__ import annotations


class StoreUnavailable(Exception):
    """Redis or MongoDB could not be reached or did not answer in time (a transient failure).

    Adapters translate their client's connection and timeout errors into this, so
    that the services map it to "retry later" (HTTP 503) without knowing the clients.
    """

    def __init__(self, store: str, reason: str) -> None:
        super().__init__(f"{store} unavailable: {reason}")
        self.store = store
        self.reason = reason
