"""A test session beside someone else's stack: servers of its own on free ports.

The session uses the local stack's servers when this checkout's ``certamen up``
started them (the demo's, say: the tests keep to topics, databases and a Redis
database of their own there). When the default ports are held by servers another
checkout started (another clone's demo), ``certamen up`` could start nothing there
and the tests would talk to a stack they must not touch. Then the whole session,
with every process it starts, moves to free ports and a state folder of its own
(``CERTAMEN_*_PORT`` and ``CERTAMEN_STATE_DIR`` in the environment, which every child
process inherits), and stops those servers when it ends.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import MutableMapping
from pathlib import Path

from certamen.operations.stack.console import make_console
from certamen.operations.stack.parts import SERVERS, all_parts, is_external, select
from certamen.operations.stack.probes import port_open
from certamen.operations.stack.runner import states, stop
from certamen.settings import Ports, load
from tests.support.processes import take_free_ports

# Where a session that moves takes its ports: away from the other suites' ranges.
PORT_RANGE = range(21000, 21999)


def foreign_ports(environ: MutableMapping[str, str]) -> list[int]:
    """The servers' ports held by programs this checkout's ``certamen up`` did not start."""
    settings = load(environ)
    ours = {s.name for s in states(settings, SERVERS) if s.state in ("running", "starting")}
    return [
        port
        for part in select(all_parts(settings), SERVERS)
        if part.name not in ours and not is_external(settings, part)
        for port in part.ports
        if port_open("127.0.0.1", port)
    ]


def move_off(environ: MutableMapping[str, str]) -> Path:
    """Give the session every port of its own and a state folder; return the folder."""
    names = [f.name for f in dataclasses.fields(Ports)]
    for name, port in zip(names, take_free_ports(PORT_RANGE, len(names)), strict=True):
        environ[f"CERTAMEN_{name.upper()}_PORT"] = str(port)
    state = Path(tempfile.mkdtemp(prefix="certamen-tests-"))
    environ["CERTAMEN_STATE_DIR"] = str(state)
    return state


def stop_moved(state: Path) -> None:
    """Stop what the moved session started, and remove its state folder."""
    stop(load(os.environ), make_console(stderr=True))
    shutil.rmtree(state, ignore_errors=True)
