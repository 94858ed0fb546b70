"""The commands of docs/deploy.md that need no cluster do what the text says, run as written."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.deploy.render import REPO, Rendered, prepare_tree, render

DEPLOY_DOC = REPO / "docs" / "deploy.md"


def _section(title: str) -> str:
    text = DEPLOY_DOC.read_text(encoding="utf-8")
    return text.split(f"\n## {title}")[1].split("\n## ")[0]


def _shell_blocks(title: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", _section(title), re.S)


def _commands_from(block: str, first: str) -> str:
    """The lines of a block from the one starting with ``first`` (continuations included)."""
    start = block.index(first)
    return block[start:]


def _bash(script: str, cwd: Path) -> str:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _images(rendered: Rendered) -> set[str]:
    return {
        c["image"]
        for ksvc in rendered.of_kind("Service", "serving.knative.dev")
        for c in ksvc["spec"]["template"]["spec"]["containers"]
    }


def test_the_documented_pin_names_the_image_by_digest_in_every_service(tmp_path: Path) -> None:
    """Step 5's sed, run twice as after two builds: each time every Service gets that digest."""
    pin = _commands_from(_shell_blocks("5. Build the image")[0], "sed -i")
    tree = prepare_tree(tmp_path / "tree")
    for digest in ("ab" * 32, "cd" * 32):
        image = f"localhost:5001/certamen@sha256:{digest}"
        _bash(f"IMAGE={image}\n{pin}", tree)
        assert _images(render(tree, "knative")) == {image}
        assert _images(render(tree, "knative/overlays/ha")) == {image}
