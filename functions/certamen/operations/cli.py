"""The ``certamen`` command: one entry point for the local stack, the workloads and the demo.

Settings are read here, once, and passed inward. Each subcommand's module is
imported only when it runs, so that a workload starts fast (scale from zero).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from certamen.settings import SettingsError, load

# subcommand -> (module with ``run(settings, args) -> int``, help)
COMMANDS: dict[str, tuple[str, str]] = {
    "setup": (
        "certamen.operations.stack.install",
        "install what the local stack needs (Java, Kafka, ...)",
    ),
    "up": (
        "certamen.operations.stack.commands",
        "start what is not running, wait until ready, show a table",
    ),
    "down": ("certamen.operations.stack.commands", "stop what `up` started (data is kept)"),
    "status": (
        "certamen.operations.stack.commands",
        "show each part: running or not, address, pid, log",
    ),
    "logs": ("certamen.operations.stack.commands", "show a part's log file"),
    "smoke": ("certamen.operations.stack.smoke", "one vote through Kafka into Redis and MongoDB"),
    "producer-grpc": ("certamen.producers.grpc.server", "serve the gRPC producer (PORT)"),
    "producer-wasm": ("certamen.producers.wasm.server", "serve the HTTP/WebAssembly producer"),
    "consumer": ("certamen.consumer.serve", "serve the consumer function (functions-framework)"),
    "source": ("certamen.source.runner", "run the local KafkaSource: Kafka -> consumer"),
    "streamlit": ("certamen.results.webapp", "serve the Streamlit app"),
    "audit": ("certamen.operations.audit", "recount MongoDB and compare with every Redis counter"),
    "dead-letters": (
        "certamen.operations.dead_letters",
        "list the dead letters, or replay them through the consumer once fixed",
    ),
    "demo": ("certamen.operations.demo", "the main job: stack up, a burst of votes, the tally"),
    "generate-votes": ("certamen.operations.votefiles", "write a vote file for a catalog"),
    "bench": ("certamen.operations.bench", "run the benchmark suite and write load/RESULTS.md"),
}


def build_parser() -> argparse.ArgumentParser:
    """All subcommands and their options, in one place."""
    parser = argparse.ArgumentParser(prog="certamen", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands = {name: sub.add_parser(name, help=text) for name, (_, text) in COMMANDS.items()}

    commands["up"].add_argument("parts", nargs="*", help="only these parts (and what they need)")
    commands["status"].add_argument("--json", action="store_true", help="machine-readable")
    commands["down"].add_argument("parts", nargs="*", help="only these parts (no others)")
    commands["down"].add_argument("--wipe", action="store_true", help="also delete the state")
    commands["logs"].add_argument("part", help="kafka, redis, mongodb, consumer, source, ...")
    commands["logs"].add_argument("-n", "--lines", type=int, default=50)
    commands["logs"].add_argument("-f", "--follow", action="store_true")
    commands["audit"].add_argument("--json", action="store_true", help="machine-readable output")

    actions = commands["dead-letters"].add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    listing = actions.add_parser("list", help="the dead letters not yet put right")
    replay = actions.add_parser("replay", help="re-drive dead letters through the consumer")
    for action in (listing, replay):
        action.add_argument("--reason", metavar="RULE", help="only letters breaking RULE now")
        action.add_argument(
            "--since", metavar="T", help="failed since T: 2026-11-26T17:00Z, or an age: 30m, 2h, 1d"
        )
        action.add_argument("--json", action="store_true", help="machine-readable output")
    listing.add_argument("--all", action="store_true", help="also the letters put right")
    listing.add_argument("--limit", type=int, default=500, help="at most this many (500)")
    replay.add_argument("--id", action="append", default=[], metavar="ID", help="this letter")
    replay.add_argument("--dry-run", action="store_true", help="say what would happen only")
    replay.add_argument("--by", help="who replays (default: the user running the command)")

    demo = commands["demo"]
    demo.add_argument("--file", help="a vote file (JSON array); default: a generated contest")
    demo.add_argument("--votes", type=int, default=10_000, help="size of the generated contest")
    demo.add_argument("--users", type=int, default=50, help="Locust users at a burst's peak")
    demo.add_argument("--bursts", type=int, default=3, help="the contest is sent in this many")
    demo.add_argument(
        "--burst-rate",
        type=float,
        default=1000.0,
        help="votes/s a burst sends (both routes), rounded so a burst lasts whole seconds",
    )
    demo.add_argument("--burst-gap", type=float, default=5.0, help="seconds between bursts (whole)")
    demo.add_argument("--grpc-weight", type=int, default=1)
    demo.add_argument("--wasm-weight", type=int, default=1)
    demo.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for counts")
    demo.add_argument("--down", action="store_true", help="stop the stack afterwards")
    demo.add_argument("--seed", type=int, default=2026, help="seed of the generated contest")
    demo.add_argument("--fresh", action="store_true", help="reset the contest's tally first")
    demo.add_argument("--json", metavar="PATH", help="also write the summary as JSON here")

    gen = commands["generate-votes"]
    gen.add_argument("--count", type=int, default=10_000)
    gen.add_argument("--seed", type=int, default=2026)
    gen.add_argument("--output", required=True)
    gen.add_argument("--counts", help='exact votes per album: "Band/Album=N;..." or a YAML file')

    bench = commands["bench"]
    bench.add_argument("--quick", action="store_true", help="short runs, for a smoke check")
    bench.add_argument("--output", default="load/RESULTS.md")
    bench.add_argument("--only", nargs="*", default=[], help="run only these load/bench_*.py")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, read the settings once, run the subcommand."""
    args = build_parser().parse_args(argv)
    try:
        settings = load()
    except SettingsError as e:
        print(f"certamen: bad configuration: {e}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[args.command][0])
    result: int = module.run(settings, args)
    return result


if __name__ == "__main__":
    sys.exit(main())
