"""Who may see the app and who may replay: the [auth] section as Streamlit reads it, the rules."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from certamen.results import webapp
from certamen.results.access import (
    Account,
    SecretsError,
    SignInRequired,
    decide,
    may_replay,
    read_auth,
    sign_in_configured,
)
from certamen.settings import WebAppSettings, load

COMPLETE = {
    "redirect_uri": "https://streamlit.certamen.example/oauth2callback",
    "cookie_secret": "a-long-random-secret",
    "client_id": "certamen",
    "client_secret": "s3cret",
    "server_metadata_url": "https://id.example/.well-known/openid-configuration",
}
TOML = """
[auth]
redirect_uri = "https://streamlit.certamen.example/oauth2callback"
cookie_secret = "a-long-random-secret"
client_id = "certamen"
client_secret = "s3cret"
server_metadata_url = "https://id.example/.well-known/openid-configuration"
client_kwargs = { prompt = "login" }
"""


def _kubernetes_secret(folder: Path, values: dict[str, str]) -> Path:
    """A Secret mounted at <folder>/auth, as the kubelet lays it out (..data links included)."""
    data = folder / "auth" / "..2026_12_05_10_00_00.000000001"
    data.mkdir(parents=True)
    for key, value in values.items():
        (data / key).write_text(value + "\n")
        (folder / "auth" / key).symlink_to(Path("..data") / key)
    (folder / "auth" / "..data").symlink_to(data.name)
    return folder


def test_a_toml_file_configures_sign_in(tmp_path: Path) -> None:
    (tmp_path / "secrets.toml").write_text(TOML)
    auth = read_auth([tmp_path / "missing.toml", tmp_path / "secrets.toml"])
    assert sign_in_configured(auth)
    assert auth["client_kwargs"] == {"prompt": "login"}


def test_a_kubernetes_secret_folder_configures_sign_in(tmp_path: Path) -> None:
    folder = _kubernetes_secret(tmp_path / "streamlit", COMPLETE)
    auth = read_auth([folder])
    assert auth == COMPLETE  # values stripped, Kubernetes' own entries ignored
    assert sign_in_configured(auth)


def test_an_empty_secret_folder_is_no_sign_in(tmp_path: Path) -> None:
    """An optional Secret that was never created: the kubelet mounts an empty folder."""
    (tmp_path / "streamlit" / "auth").mkdir(parents=True)
    assert not sign_in_configured(read_auth([tmp_path / "streamlit"]))


def test_a_later_place_replaces_the_whole_section(tmp_path: Path) -> None:
    """As Streamlit merges its secrets files: top-level sections, not keys."""
    (tmp_path / "a.toml").write_text(TOML)
    (tmp_path / "b.toml").write_text('[auth]\nredirect_uri = "https://other/oauth2callback"\n')
    auth = read_auth([tmp_path / "a.toml", tmp_path / "b.toml"])
    assert auth == {"redirect_uri": "https://other/oauth2callback"}
    assert not sign_in_configured(auth)


@pytest.mark.parametrize("missing", sorted(COMPLETE))
def test_every_key_is_needed(missing: str) -> None:
    auth = {key: value for key, value in COMPLETE.items() if key != missing}
    assert not sign_in_configured(auth)
    assert not sign_in_configured({**COMPLETE, missing: "  "})


def test_a_named_provider_counts() -> None:
    shared = {"redirect_uri": COMPLETE["redirect_uri"], "cookie_secret": "x" * 20}
    provider = {k: COMPLETE[k] for k in ("client_id", "client_secret", "server_metadata_url")}
    assert sign_in_configured({**shared, "microsoft": provider})
    assert not sign_in_configured({**shared, "microsoft": {"client_id": "x"}})


def test_a_bad_secrets_place_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SecretsError, match=r"neither a \.toml file nor a folder"):
        read_auth([tmp_path / "nowhere"])
    (tmp_path / "broken.toml").write_text("[auth\n")
    with pytest.raises(SecretsError, match="not valid TOML"):
        read_auth([tmp_path / "broken.toml"])


@pytest.mark.parametrize(
    ("visibility", "configured", "access"),
    [
        ("local", True, "sign-in"),
        ("cluster-local", True, "sign-in"),
        ("public", True, "sign-in"),
        ("local", False, "open-local"),
        ("cluster-local", False, "open-cluster"),
    ],
)
def test_how_the_app_is_reached(visibility: str, configured: bool, access: str) -> None:
    assert decide(WebAppSettings(visibility=visibility), configured) == access


def test_a_public_app_without_sign_in_is_refused() -> None:
    with pytest.raises(SignInRequired, match="CERTAMEN_STREAMLIT_VISIBILITY=cluster-local"):
        decide(WebAppSettings(visibility="public", on_knative=True), configured=False)


ANA = Account(email="Ana@Example.org", email_verified=True, name="Ana")
ORGANISERS = frozenset({"ana@example.org"})


def test_only_a_signed_in_organiser_may_replay() -> None:
    assert may_replay("sign-in", ANA, ORGANISERS)
    beto = Account(email="beto@example.org", email_verified=True, name="Beto")
    assert not may_replay("sign-in", beto, ORGANISERS)
    unverified = Account(email="ana@example.org", email_verified=False, name=None)
    assert not may_replay("sign-in", unverified, ORGANISERS)
    no_claim = Account(email="ana@example.org", email_verified=None, name=None)
    assert may_replay("sign-in", no_claim, ORGANISERS)  # providers that send no such claim
    assert not may_replay("sign-in", None, ORGANISERS)
    assert not may_replay("open-local", None, ORGANISERS)
    assert not may_replay("open-cluster", ANA, ORGANISERS)


def test_certamen_streamlit_refuses_to_start_on_knative_without_sign_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load({"K_SERVICE": "streamlit", "CERTAMEN_STREAMLIT_SECRETS": str(tmp_path)})
    assert webapp.run(settings, argparse.Namespace()) == 2
    assert "refusing to start" in capsys.readouterr().err


def test_the_command_hands_streamlit_the_secrets_it_checked(tmp_path: Path) -> None:
    places = (tmp_path / "a.toml", tmp_path / "folder")
    command = webapp.streamlit_command(tmp_path / "app.py", 8501, places)
    assert command[-4:] == ["--secrets.files", str(places[0]), "--secrets.files", str(places[1])]
