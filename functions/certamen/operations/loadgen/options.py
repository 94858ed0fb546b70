"""The Certamen options of the Locust runs, on Locust's command line and in its web UI.

Registered by :mod:`certamen.operations.loadgen.locustfile`; read back with :func:`options_of`
(on a distributed run, workers receive the master's values with the first spawn).
"""

from __future__ import annotations

from typing import Any

from locust.env import Environment

from certamen.operations.loadgen.keys import new_run_id

DEFAULT_VOTES_FILE = "load/data/contest-1000.json"


def add_options(parser: Any) -> None:
    """Certamen's options on Locust's command line (and in its web UI)."""
    group = parser.add_argument_group("Certamen")
    group.add_argument("--votes-file", default=DEFAULT_VOTES_FILE, help="JSON array of votes")
    group.add_argument(
        "--mode",
        choices=("replay", "sample"),
        default="replay",
        help="replay: every record once across all users, then stop; sample: forever",
    )
    group.add_argument("--run-id", default=new_run_id(), help="prefix of every idempotency key")
    group.add_argument("--seed", type=int, default=2026, help="sampling seed (sample mode)")
    group.add_argument("--grpc-weight", type=int, default=1, help="share of gRPC users")
    group.add_argument("--wasm-weight", type=int, default=1, help="share of HTTP users")
    group.add_argument("--grpc-target", default="127.0.0.1:50051", help="producer-grpc host:port")
    group.add_argument("--grpc-authority", default="", help=":authority (cluster ingress host)")
    group.add_argument("--grpc-batch", type=int, default=1, help=">1: CastBatch of this size")
    group.add_argument("--wasm-host-header", default="", help="Host header (cluster ingress)")
    group.add_argument("--wasm-path", default="/votes", help="producer-wasm path")
    group.add_argument(
        "--user-rate", type=float, default=0.0, help="calls/s per user (0: as fast as possible)"
    )
    group.add_argument("--attempts", type=int, default=6, help="tries per vote (503/UNAVAILABLE)")
    group.add_argument("--request-timeout", type=float, default=10.0, help="seconds per request")
    group.add_argument("--ledger-dir", default="", help="write worker-<i>.json vote ledgers here")
    group.add_argument("--burst-idle", type=float, default=10.0, help="burst shape: idle seconds")
    group.add_argument("--burst-ramp", type=float, default=5.0, help="burst shape: ramp seconds")
    group.add_argument("--burst-peak", type=int, default=50, help="burst shape: users at peak")
    group.add_argument("--burst-hold", type=float, default=30.0, help="burst shape: hold seconds")
    group.add_argument("--burst-gap", type=float, default=60.0, help="burst shape: idle between")
    group.add_argument("--burst-count", type=int, default=2, help="burst shape: bursts")
    group.add_argument(
        "--burst-last-hold", type=float, default=0.0, help="burst shape: the last burst's hold"
    )


def options_of(environment: Environment) -> Any:
    """The parsed command line (Locust types it loosely; our options are added above)."""
    if environment.parsed_options is None:
        raise RuntimeError("Locust gave no parsed options")
    return environment.parsed_options
