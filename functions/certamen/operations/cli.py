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
    commands["down"].add_argument("--wipe", action="store_true", help="also delete the state")
    commands["logs"].add_argument("part", help="kafka, redis, mongodb, consumer, source, ...")
    commands["logs"].add_argument("-n", "--lines", type=int, default=50)
    commands["logs"].add_argument("-f", "--follow", action="store_true")
    commands["audit"].add_argument("--json", action="store_true", help="machine-readable output")

    demo = commands["demo"]
    demo.add_argument("--file", help="a vote file (JSON array); default: a generated contest")
    demo.add_argument("--votes", type=int, default=10_000, help="size of the generated contest")
    demo.add_argument("--users", type=int, default=50, help="concurrent Locust users")
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
