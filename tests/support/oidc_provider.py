"""A real OpenID Provider on this machine for the sign-in tests: panva's oidc-provider (npm).

``scripts/setup`` installs it into ``tests/support/oidc/node_modules`` (``npm ci``).
Its development login pages take any login name (the password is not checked) and
give the account the e-mail ``<login>@<EMAIL_DOMAIN>``; the helpers below drive
those pages in a browser as a person would.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.processes import serving

FOLDER = Path(__file__).resolve().parent / "oidc"
EMAIL_DOMAIN = "example.org"
CLIENT_ID = "certamen-tests"


@dataclass(frozen=True)
class Provider:
    """A running provider and the one client it knows (the app under test)."""

    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def streamlit_secrets(self, cookie_secret: str) -> str:
        """The app's ``secrets.toml``: Streamlit's documented ``[auth]`` for this provider.

        ``prompt = "login"``: Streamlit asks for ``select_account`` by default, which this
        provider does not offer.
        """
        return (
            "[auth]\n"
            f'redirect_uri = "{self.redirect_uri}"\n'
            f'cookie_secret = "{cookie_secret}"\n'
            f'client_id = "{self.client_id}"\n'
            f'client_secret = "{self.client_secret}"\n'
            f'server_metadata_url = "{self.metadata_url}"\n'
            'client_kwargs = { prompt = "login" }\n'
        )


@contextmanager
def oidc_provider(port: int, redirect_uri: str, log: Path) -> Iterator[Provider]:
    """Run the provider on ``127.0.0.1:port`` until the block ends."""
    node = shutil.which("node")
    if node is None or not (FOLDER / "node_modules" / "oidc-provider").is_dir():
        raise RuntimeError("the OpenID Provider is not installed: run scripts/setup")
    provider = Provider(
        issuer=f"http://127.0.0.1:{port}",
        client_id=CLIENT_ID,
        client_secret=os.urandom(16).hex(),
        redirect_uri=redirect_uri,
    )
    env = {
        **os.environ,
        "PORT": str(port),
        "CLIENT_ID": provider.client_id,
        "CLIENT_SECRET": provider.client_secret,
        "REDIRECT_URI": redirect_uri,
        "EMAIL_DOMAIN": EMAIL_DOMAIN,
    }
    with serving(
        [node, str(FOLDER / "provider.mjs")],
        env,
        log,
        ready=lambda: _answers(provider.metadata_url),
        within_s=30,
        what="the OpenID Provider did not publish its metadata",
        grace_s=5,
    ):
        yield provider


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return bool(json.loads(answer.read()).get("issuer"))
    except OSError:
        return False


def email_of(login: str) -> str:
    return f"{login}@{EMAIL_DOMAIN}"


def sign_in_at_provider(driver: webdriver.Chrome, provider: Provider, login: str) -> None:
    """On the provider's pages: log in as ``login``, then allow the app its scopes."""
    wait = WebDriverWait(
        driver, 30, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException]
    )
    wait.until(lambda d: d.current_url.startswith(f"{provider.issuer}/interaction/"))
    wait.until(lambda d: d.find_elements(By.NAME, "login"))
    driver.find_element(By.NAME, "login").send_keys(login)
    driver.find_element(By.NAME, "password").send_keys("not checked")
    driver.find_element(By.XPATH, "//button[@type='submit']").click()
    # Find the consent page's heading in one command: reading the text of a body found
    # before the page changed fails in Chrome ("Node ... does not belong to the document").
    wait.until(lambda d: d.find_elements(By.XPATH, "//h1[normalize-space(.)='Authorize']"))
    driver.find_element(By.XPATH, "//button[@type='submit']").click()


def confirm_sign_out_at_provider(driver: webdriver.Chrome, provider: Provider) -> None:
    """On the provider's end-session page: yes, sign me out."""
    wait = WebDriverWait(
        driver, 30, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException]
    )
    wait.until(lambda d: d.current_url.startswith(f"{provider.issuer}/session/end"))
    button = "//button[normalize-space(.)='Yes, sign me out']"
    wait.until(lambda d: d.find_elements(By.XPATH, button))
    driver.find_element(By.XPATH, button).click()
