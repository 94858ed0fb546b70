"""``certamen setup``: everything the local stack needs, installed or explained, idempotently.

Checks Java 17+, Maven, Go 1.21+ and redis-server (installing missing ones with
apt-get when root on Debian, else naming the exact command), fetches Apache
Kafka's jars with Maven and builds FerretDB with Go into the cache folder.
Run again, it only checks: everything is reused.
"""

from __future__ import annotations

import argparse
import time

from rich.table import Table

from certamen.operations.stack import builds, tools
from certamen.operations.stack.console import make_console, print_error
from certamen.operations.stack.errors import StackError
from certamen.settings import Settings


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Install or check every tool, then fetch Kafka and build FerretDB."""
    out = make_console()
    began = time.monotonic()
    try:
        found = tools.ensure(tools.TOOLS, out)
        libs = builds.kafka_libs(settings, found["mvn"], out)
        ferretdb = builds.ferretdb_binary(settings, found["go"], out)
    except StackError as e:
        print_error("setup", e)
        return 1
    table = Table(title="Certamen local stack: tools and builds")
    table.add_column("what")
    table.add_column("why")
    table.add_column("where", overflow="fold")
    for name, tool in tools.TOOLS.items():
        table.add_row(name, tool.why, tools.find(name).describe())
    table.add_row(f"Kafka {builds.kafka_version()}", "jars from Maven Central", str(libs))
    table.add_row("FerretDB v1", "MongoDB wire protocol on SQLite", str(ferretdb))
    out.print(table)
    out.print(f"setup done in {time.monotonic() - began:.1f} s")
    return 0
