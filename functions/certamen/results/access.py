"""Who may see the organisers' app and who may change something in it.

Sign-in is Streamlit's own OpenID Connect (``st.login``), configured by the
``[auth]`` section of Streamlit's secrets: TOML files or Kubernetes-style
secret folders (``<folder>/auth/<key>``), read here exactly as Streamlit
reads them (later places replace a whole top-level section of earlier ones),
so that ``certamen streamlit`` can refuse to start an exposed app without it
and the app knows whether to ask for it. The rules:

- sign-in configured: nothing shows before an account signed in, wherever the app runs;
- not configured, ``local`` (127.0.0.1 on this machine): open, and the page says so;
- not configured, ``cluster-local`` (a Knative Service reached from inside the cluster
  only): open, and the page says so;
- not configured, ``public``: refused, the process does not start.

Only a signed-in account listed as an organiser may replay dead letters.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from certamen.settings import WebAppSettings

Access = Literal["sign-in", "open-local", "open-cluster"]
# What Streamlit's [auth] needs: the shared keys, and one provider's keys (at the top
# of [auth], or in a named [auth.<provider>] section).
SHARED_KEYS = ("redirect_uri", "cookie_secret")
PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")


class AccessError(Exception):
    """The app must not start as configured; the message says what to set."""


class SignInRequired(AccessError):
    """An app reachable beyond this machine and its cluster, without sign-in configured."""


class SecretsError(AccessError):
    """A secrets place that Streamlit would refuse to read."""


@dataclass(frozen=True, slots=True)
class Account:
    """A signed-in account, from the ID token's claims (``st.user``)."""

    email: str | None
    email_verified: bool | None
    name: str | None

    @property
    def shown(self) -> str:
        """How the page names the account: its e-mail, else its name."""
        return self.email or self.name or "?"


def read_auth(places: Sequence[Path]) -> dict[str, Any]:
    """The ``[auth]`` section Streamlit will use, from its secrets places, in order."""
    merged: dict[str, Any] = {}
    for place in places:
        merged.update(_read_place(place))
    auth = merged.get("auth", {})
    return dict(auth) if isinstance(auth, Mapping) else {}


def sign_in_configured(auth: Mapping[str, Any]) -> bool:
    """Whether ``[auth]`` names a redirect, a cookie secret and one complete provider."""
    if not all(_given(auth, key) for key in SHARED_KEYS):
        return False
    sections = [auth, *(v for v in auth.values() if isinstance(v, Mapping))]
    return any(all(_given(section, key) for key in PROVIDER_KEYS) for section in sections)


def decide(webapp: WebAppSettings, configured: bool) -> Access:
    """How the app is reached: with sign-in, or open; raises SignInRequired when neither."""
    if configured:
        return "sign-in"
    if webapp.visibility == "local":
        return "open-local"
    if webapp.visibility == "cluster-local":
        return "open-cluster"
    where = "on Knative" if webapp.on_knative else "with CERTAMEN_STREAMLIT_VISIBILITY=public"
    places = ", ".join(str(p) for p in webapp.secrets_files)
    raise SignInRequired(
        f"the app is reachable beyond this machine ({where}) and sign-in is not configured: "
        f"no complete [auth] section in Streamlit's secrets ({places}; "
        "CERTAMEN_STREAMLIT_SECRETS). Configure an OpenID Connect provider "
        "(docs/deploy.md, 'Sign-in'), or set CERTAMEN_STREAMLIT_VISIBILITY=cluster-local "
        "if the Service is reached from inside the cluster only."
    )


def may_replay(access: Access, account: Account | None, organisers: frozenset[str]) -> bool:
    """Only a signed-in organiser: listed by e-mail, and not an unverified address."""
    if access != "sign-in" or account is None or not account.email:
        return False
    if account.email_verified is False:
        return False
    return account.email.lower() in organisers


def _read_place(place: Path) -> Mapping[str, Any]:
    if place.suffix == ".toml":
        try:
            with place.open("rb") as file:
                return tomllib.load(file)
        except FileNotFoundError:
            return {}
        except tomllib.TOMLDecodeError as e:
            raise SecretsError(f"{place}: not valid TOML: {e}") from None
    if place.is_dir():
        return _read_folder(place)
    raise SecretsError(f"{place}: neither a .toml file nor a folder of secrets")


def _read_folder(folder: Path) -> dict[str, Any]:
    """Kubernetes-style secrets: one folder per section, one file per key (values stripped)."""
    sections: dict[str, Any] = {}
    for entry in sorted(os.listdir(folder)):
        section = folder / entry
        if not section.is_dir():
            raise SecretsError(f"{section}: in a folder of secrets every entry is a folder")
        values = {
            name: (section / name).read_text(encoding="utf-8").strip()
            for name in sorted(os.listdir(section))
            if not (section / name).is_dir()  # Kubernetes' own ..data links are folders
        }
        if len(values) == 1:  # Streamlit collapses a single-key folder to its value
            sections[entry] = next(iter(values.values()))
        else:
            sections[entry] = values
    return sections


def _given(section: Mapping[str, Any], key: str) -> bool:
    value = section.get(key)
    return isinstance(value, str) and bool(value.strip())
