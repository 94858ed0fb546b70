"""The generated gRPC stubs are not committed: they must match what proto/ builds now."""

from __future__ import annotations

from pathlib import Path

from certamen.producers.grpc.build import OUT_DIR, build


def test_the_built_stubs_are_current(tmp_path: Path) -> None:
    fresh = build(out_dir=tmp_path / "_generated")

    for path in fresh:
        relative = path.relative_to(tmp_path / "_generated")
        installed = OUT_DIR / relative
        assert installed.exists(), (
            f"{relative} missing: run python -m certamen.producers.grpc.build"
        )
        assert installed.read_bytes() == path.read_bytes(), (
            f"{relative} is stale: run python -m certamen.producers.grpc.build"
        )


def test_generated_imports_point_into_our_package(tmp_path: Path) -> None:
    build(out_dir=tmp_path / "out")
    service = (tmp_path / "out" / "certamen" / "v1" / "votes_pb2_grpc.py").read_text()

    assert "from certamen._generated.certamen.v1 import votes_pb2" in service
