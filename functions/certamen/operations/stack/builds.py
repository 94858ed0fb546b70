"""What is built once per machine and kept in the cache folder.

- Apache Kafka's jars, resolved from Maven Central by Maven (``pom.xml`` beside
  this file) into ``<cache>/kafka-<version>/libs``; ``~/.m2`` is Maven's own cache.
- Our Go programs (:class:`GoProgram`), built by ``go build`` into ``<cache>/bin``;
  Go's build and module caches make a rebuild fast. FerretDB v1 is one: the small
  wrapper in ``ferretdb/`` becomes ``certamen-ferretdb``
  (``go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2`` panics outside
  FerretDB's checkout, so the wrapper embeds its public package). The tests'
  Knative validator (``tests/deploy/knative_validate/``) is another.

Each result carries a stamp (a hash of its inputs): a changed pom or source is
rebuilt, an unchanged one is reused at no cost.
"""

from __future__ import annotations

import hashlib
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from certamen.operations.stack.streamed import run_streamed
from certamen.settings import Settings, child_environment

_HERE = Path(__file__).parent
POM = _HERE / "pom.xml"
FERRETDB_SOURCE = _HERE / "ferretdb"
_MAVEN_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


@dataclass(frozen=True, slots=True)
class GoProgram:
    """A Go program of ours (a folder with go.mod), built once into ``<cache>/bin``.

    Its stamp is a hash of the folder's ``*.go`` files, ``go.mod`` and ``go.sum``: a
    changed source is rebuilt, an unchanged one reused without calling Go at all.
    """

    source: Path
    binary: str
    what: str

    def path(self, settings: Settings) -> Path:
        """Where the binary lives once built."""
        return settings.cache_dir / "bin" / self.binary

    def is_current(self, settings: Settings) -> bool:
        """Whether the cache holds a binary built from these very sources."""
        binary = self.path(settings)
        return binary.is_file() and _stamp_matches(self._stamp_path(binary), self._stamp())

    def build(self, settings: Settings, go: Path, out: Console) -> Path:
        """The binary, built with ``go`` unless it is current."""
        binary = self.path(settings)
        if self.is_current(settings):
            return binary
        stamp = self._stamp()
        binary.parent.mkdir(parents=True, exist_ok=True)
        partial = binary.with_name(binary.name + ".partial")
        run_streamed(
            out,
            [str(go), "build", "-v", "-trimpath", "-o", str(partial), "."],
            what=self.what,
            log_path=settings.cache_dir / "logs" / f"go-build-{self.binary}.log",
            cwd=self.source,
            # Pure Go (no C compiler needed); an older Go fetches the toolchain go.mod asks for.
            env=child_environment(
                {"CGO_ENABLED": "0", "GOTOOLCHAIN": "auto", "GOFLAGS": "-mod=readonly"}
            ),
        )
        partial.replace(binary)
        self._stamp_path(binary).write_text(stamp, encoding="utf-8")
        return binary

    def _stamp(self) -> str:
        inputs = [*sorted(self.source.glob("*.go")), self.source / "go.mod", self.source / "go.sum"]
        return _digest(inputs)

    @staticmethod
    def _stamp_path(binary: Path) -> Path:
        return binary.with_name(binary.name + ".stamp")


FERRETDB = GoProgram(
    source=FERRETDB_SOURCE,
    binary="certamen-ferretdb",
    what="building FerretDB v1 (go build; the first build takes a few minutes)",
)


def kafka_version() -> str:
    """The Kafka version pinned in ``pom.xml`` (the one place it is written)."""
    node = ET.parse(POM).getroot().find("m:properties/m:kafka.version", _MAVEN_NS)
    assert node is not None and node.text, "pom.xml must set <kafka.version>"
    return node.text.strip()


def kafka_libs_dir(settings: Settings) -> Path:
    """Where Kafka's jars live once fetched."""
    return settings.cache_dir / f"kafka-{kafka_version()}" / "libs"


def kafka_libs(settings: Settings, mvn: Path, out: Console) -> Path:
    """Kafka's jars, fetched with Maven unless the cache already holds this pom's set."""
    libs = kafka_libs_dir(settings)
    home = libs.parent
    stamp = _digest([POM])
    if _stamp_matches(home / "libs.stamp", stamp) and any(libs.glob("kafka_*.jar")):
        return libs
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(POM, home / "pom.xml")  # Maven runs outside the source tree
    partial = home / "libs.partial"
    shutil.rmtree(partial, ignore_errors=True)
    run_streamed(
        out,
        [
            str(mvn),
            "-B",
            "-Dstyle.color=never",
            "-f",
            str(home / "pom.xml"),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={partial}",
        ],
        what=f"fetching Apache Kafka {kafka_version()} from Maven Central (Maven)",
        log_path=settings.cache_dir / "logs" / "maven.log",
        cwd=home,
    )
    shutil.rmtree(libs, ignore_errors=True)
    partial.rename(libs)
    (home / "libs.stamp").write_text(stamp, encoding="utf-8")
    return libs


def ferretdb_binary(settings: Settings, go: Path, out: Console) -> Path:
    """The FerretDB binary, built with Go unless the cache holds one of this wrapper."""
    return FERRETDB.build(settings, go, out)


def _digest(paths: list[Path]) -> str:
    sha = hashlib.sha256()
    for path in paths:
        sha.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return sha.hexdigest()


def _stamp_matches(path: Path, stamp: str) -> bool:
    try:
        return path.read_text(encoding="utf-8").strip() == stamp
    except OSError:
        return False
