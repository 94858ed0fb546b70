"""The commands of docs/deploy.md that need no cluster do what the text says, run as written.

The kn commands themselves need ``kn``, which is not installed here; docs/deploy.md
("The kn route") says how they were checked against the manifests.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from tests.deploy.render import KUBECTL, REPO, Manifest, Rendered, prepare_tree, render

DEPLOY_DOC = REPO / "docs" / "deploy.md"
KN_ROOT = "knative/kn"
# What `kn service create` makes on the kn route, and the KafkaSource applied after it.
MADE_BY_KN = {
    ("serving.knative.dev/v1", "Service", name)
    for name in ("producer-grpc", "producer-wasm", "consumer", "streamlit")
}
APPLIED_AFTER = {("sources.knative.dev/v1beta1", "KafkaSource", "votes")}


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


def _key(obj: Manifest) -> tuple[str, str, str]:
    return obj["apiVersion"], obj["kind"], obj["metadata"]["name"]


WORKLOADS = ("producer-grpc", "producer-wasm", "consumer", "streamlit")


def _pin_function() -> str:
    """Step 5's ``pin`` shell function, as written."""
    block = _shell_blocks("5. Build the images")[0]
    start = block.index("pin() {")
    return block[start : block.index("\n}\n", start) + 3]


def _pinned(digest: str) -> dict[str, str]:
    return {w: f"localhost:5001/certamen-{w}@sha256:{digest}{i}" for i, w in enumerate(WORKLOADS)}


def _images_by_service(rendered: Rendered) -> dict[str, str]:
    return {
        ksvc["metadata"]["name"]: ksvc["spec"]["template"]["spec"]["containers"][0]["image"]
        for ksvc in rendered.of_kind("Service", "serving.knative.dev")
    }


def test_the_documented_pin_names_each_image_by_digest_in_its_service(tmp_path: Path) -> None:
    """Step 5's pin, run twice as after two builds: each Service gets its own workload's digest."""
    tree = prepare_tree(tmp_path / "tree")
    for digest in ("a" * 63, "c" * 63):
        images = _pinned(digest)
        calls = "\n".join(f"pin {w} {image}" for w, image in images.items())
        _bash(f"{_pin_function()}\n{calls}", tree)
        assert _images_by_service(render(tree, "knative")) == images
        assert _images_by_service(render(tree, "knative/overlays/ha")) == images


def test_the_kn_route_applies_everything_but_what_kn_creates(
    renders: dict[str, Rendered], render_tree: Path
) -> None:
    platform = render(render_tree, KN_ROOT)
    everything = {_key(o) for o in renders["knative"].objects}
    assert everything >= MADE_BY_KN | APPLIED_AFTER
    assert {_key(o) for o in platform.objects} == everything - MADE_BY_KN - APPLIED_AFTER


def test_the_kn_route_finds_the_names_the_services_refer_to(
    default_render: Rendered, render_tree: Path
) -> None:
    """Its lookup of the generated names gives those the kustomize-made Services use."""
    (block,) = [b for b in _shell_blocks("The kn route") if "generated()" in b]
    lookup = _commands_from(block, "RENDER=")
    lookup = lookup.replace("kubectl kustomize", f"{KUBECTL} kustomize")
    found = _bash(lookup, render_tree).split()
    referred = set()
    for ksvc in default_render.of_kind("Service", "serving.knative.dev"):
        container = ksvc["spec"]["template"]["spec"]["containers"][0]
        referred |= {s["configMapRef"]["name"] for s in container.get("envFrom", [])}
        referred |= {
            e["valueFrom"]["secretKeyRef"]["name"]
            for e in container.get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})
        }
    assert len(found) == 3  # no image: render_tree's kustomization pins none by digest
    assert set(found) == referred


def test_the_kn_route_takes_each_image_as_step_5_pinned_it(tmp_path: Path) -> None:
    (block,) = [b for b in _shell_blocks("The kn route") if "generated()" in b]
    image = next(line for line in block.splitlines() if line.startswith("image() {"))
    tree = prepare_tree(tmp_path / "tree")
    images = _pinned("e" * 63)
    calls = "\n".join(f"pin {w} {i}" for w, i in images.items())
    _bash(f"{_pin_function()}\n{calls}", tree)
    found = _bash(f"{image}\n" + "\n".join(f"image {w}" for w in WORKLOADS), tree).split()
    assert found == list(images.values())


def test_the_kafka_source_the_kn_route_applies_is_the_rendered_one(
    default_render: Rendered,
) -> None:
    """It applies kafkasource.yaml with -n, without kustomize: the same spec all the same."""
    (block,) = [b for b in _shell_blocks("The kn route") if "kafkasource.yaml" in b]
    path = re.search(r"kubectl -n certamen apply -f (\S+)", block)
    assert path is not None
    applied = yaml.safe_load((REPO / path[1]).read_text(encoding="utf-8"))
    assert _key(applied) in APPLIED_AFTER
    assert applied["spec"] == default_render.named("KafkaSource", "votes")["spec"]
