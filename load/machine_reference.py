"""How fast the machine is right now: a wake-up's price and pure Python's, none of our code.

The pipeline's cost per vote is small messages between processes over loopback
sockets, each waking a process that waited, and Python around them
(load/results/cost-per-vote.md). On this machine (a VM) the same code measured 0.47
and 0.92 ms a vote two hours apart. Two references, taken in the same run as a
pipeline figure, say which kind of work was dearer at that moment, so that figures
from different hours can be told apart (``bench_cost_per_vote.py`` takes them before
and after its runs):

- **wake-up round trip**: a client process sends a vote-sized message over one of a
  few loopback TCP connections and an echo server process on uvloop answers, paced at
  the pipeline's rate; CPU of both per round trip.
- **pure Python**: a vote-sized dict through ``json.dumps`` and ``json.loads``; CPU
  per round.

    python load/machine_reference.py [--rate N] [--seconds S] [--connections C]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import time
from dataclasses import dataclass

import benchkit
import uvloop

MESSAGE = b"x" * 200  # about a vote's size
RATE = 2_000  # round trips a second, all connections together: the pipeline's rate
SECONDS = 5.0
CONNECTIONS = 8
VOTE = {"name": "Vote Sample", "album": "Album Sample", "year": "2026", "rank": "3",
        "key": "run.tag.000123", "band": "Banda Sample", "at": "2026-12-06T04:00:00Z"}  # fmt: skip
PYTHON_ROUNDS = 20_000


@dataclass(frozen=True)
class Reference:
    """The two prices, microseconds of CPU."""

    wakeup_us: float
    python_us: float

    def __str__(self) -> str:
        return f"wake-up round trip {self.wakeup_us:.1f} µs, pure Python {self.python_us:.2f} µs"


class _Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[attr-defined]


def _serve(port: multiprocessing.Queue[int]) -> None:
    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_Echo, "127.0.0.1", 0)
        port.put(server.sockets[0].getsockname()[1])
        await asyncio.Future()

    uvloop.run(main())


async def _client(port: int, rate: float, seconds: float, connections: int) -> int:
    """Round trips done, each connection paced at its share of the rate."""
    interval = connections / rate
    deadline = time.monotonic() + seconds

    async def one(offset: float) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        done = 0
        next_at = time.monotonic() + offset
        while next_at < deadline:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            writer.write(MESSAGE)
            await reader.readexactly(len(MESSAGE))
            done += 1
            next_at += interval
        writer.close()
        return done

    counts = await asyncio.gather(*(one(i * interval / connections) for i in range(connections)))
    return sum(counts)


def measure(
    rate: float = RATE, seconds: float = SECONDS, connections: int = CONNECTIONS
) -> Reference:
    """Both references, now."""
    return Reference(wakeup_us(rate, seconds, connections), python_us())


def python_us() -> float:
    """CPU per dumps-and-loads of a vote-sized dict, the median of 5 batches."""
    batches = []
    for _ in range(5):
        start = time.process_time()
        for _ in range(PYTHON_ROUNDS):
            json.loads(json.dumps(VOTE))
        batches.append(1e6 * (time.process_time() - start) / PYTHON_ROUNDS)
    return statistics.median(batches)


def wakeup_us(rate: float, seconds: float, connections: int) -> float:
    """Microseconds of CPU (client and server together) per round trip."""
    context = multiprocessing.get_context("spawn")
    port: multiprocessing.Queue[int] = context.Queue()
    server = context.Process(target=_serve, args=(port,), daemon=True)
    server.start()
    try:
        server_port = port.get(timeout=30)
        server_before, client_before = (
            benchkit.process_cpu_seconds(server.pid or 0),
            time.process_time(),
        )
        done = uvloop.run(_client(server_port, rate, seconds, connections))
        server_cpu = benchkit.process_cpu_seconds(server.pid or 0) - server_before
        client_cpu = time.process_time() - client_before
    finally:
        server.kill()
        server.join()
    return 1e6 * (server_cpu + client_cpu) / max(1, done)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=RATE, help=f"round trips a second ({RATE:,})")
    parser.add_argument("--seconds", type=float, default=SECONDS, help=f"how long ({SECONDS})")
    parser.add_argument("--connections", type=int, default=CONNECTIONS, help=f"({CONNECTIONS})")
    args = parser.parse_args()
    print(measure(args.rate, args.seconds, args.connections))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
