"""Sign-in, in headless Chromium against a real OpenID Provider started on this machine.

The provider is panva's oidc-provider (npm, OpenID Certified; ``tests/support/oidc``).
The app runs as ``certamen streamlit`` with Streamlit's documented ``[auth]`` in a
secrets file and one organiser account; nothing of the contest may show before an
account signed in, nor after it signed out.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from certamen.settings import Settings
from tests.browser.chromium import headless_chromium, results_when, save, settled
from tests.browser.streamlit_run import running_app
from tests.support.oidc_provider import (
    Provider,
    confirm_sign_out_at_provider,
    email_of,
    oidc_provider,
    sign_in_at_provider,
)
from tests.support.processes import take_free_ports
from tests.support.tally_fill import CATALOG_PATH, Pipeline

pytestmark = pytest.mark.browser

PORTS = range(17700, 17800)
ORGANISER, VIEWER = "ana", "beto"
NEW_BAND = "Nadie"  # not in the contest's catalog when its vote came: a dead letter
# What only a signed-in visitor may see: the navigation and the contest's numbers.
CONTEST_WORDS = ("Total votes", "Logs", "Audit", "Dead letters", "Matching votes")
SPANISH_CONTEST_WORDS = (
    "Votos en total",
    "Registro",
    "Auditoría",
    "Mensajes fallidos",
    "Votos que coinciden",
)


@dataclass(frozen=True)
class SignedApp:
    url: str
    provider: Provider


@pytest.fixture(scope="module")
def signed_app(
    browser_contest: Pipeline, infra: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SignedApp]:
    """The provider and the app it signs in to, with ana as the one organiser.

    A vote for a band the catalog lacked is dead-lettered first; the app then runs with
    the corrected catalog (the band added), as an organiser would after fixing it.
    """
    app_port, provider_port = take_free_ports(PORTS, 2)
    folder = tmp_path_factory.mktemp("signin")
    browser_contest.poison("letter-new-band", name=NEW_BAND)
    extra_catalog = _catalog_with_the_new_band(browser_contest, folder / "catalog.yaml")
    redirect = f"http://127.0.0.1:{app_port}/oauth2callback"
    with oidc_provider(provider_port, redirect, folder / "provider.log") as provider:
        secrets_file = folder / "secrets.toml"
        secrets_file.write_text(provider.streamlit_secrets(secrets.token_hex(32)))
        extra = {
            "CERTAMEN_STREAMLIT_SECRETS": str(secrets_file),
            "CERTAMEN_ORGANISERS": email_of(ORGANISER),
            "CERTAMEN_CATALOG": str(extra_catalog),
        }
        log = folder / "streamlit.log"
        with running_app(app_port, infra, browser_contest.db.name, log, extra) as url:
            yield SignedApp(url, provider)


def _catalog_with_the_new_band(contest: Pipeline, path: Path) -> Path:
    """The example catalog plus the band, album and year of the dead-lettered vote."""
    letter = contest.db["dead_letters"].find_one({"reason.field": "name"})
    assert letter is not None
    vote = json.loads(letter["event"]["data"])  # the event's data, stored as text
    catalog = yaml.safe_load(CATALOG_PATH.read_text(encoding="utf-8"))
    album = {"title": vote["album"], "year": int(vote["year"])}
    catalog["bands"].append({"name": NEW_BAND, "albums": [album]})
    path.write_text(yaml.safe_dump(catalog, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def fresh_browser() -> Iterator[webdriver.Chrome]:
    """A browser with no cookies: each test signs in for itself."""
    with headless_chromium() as driver:
        yield driver


def _body(driver: webdriver.Chrome) -> str:
    text: str = driver.find_element(By.TAG_NAME, "body").text
    return text


def _sign_in_page(driver: webdriver.Chrome, button: str = "Sign in") -> str:
    """Wait for the app's sign-in page; its text."""
    xpath = f"//button[normalize-space(.)='{button}']"
    WebDriverWait(driver, 30, poll_frequency=0.1).until(lambda d: d.find_elements(By.XPATH, xpath))
    return _body(driver)


def _nothing_of_the_contest(page: str, contest_words: tuple[str, ...] = CONTEST_WORDS) -> None:
    for words in contest_words:
        assert words not in page, words


def _click(driver: webdriver.Chrome, xpath: str) -> None:
    """Click the element once it is there; Streamlit may draw it again meanwhile (a rerun)."""

    def clicked(d: webdriver.Chrome) -> bool:
        found = d.find_elements(By.XPATH, xpath)
        if found:
            found[0].click()
        return bool(found)

    WebDriverWait(
        driver, 30, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException]
    ).until(clicked)


def _button(label: str) -> str:
    return f"//button[normalize-space(.)='{label}']"


def _sign_in(driver: webdriver.Chrome, app: SignedApp, login: str, button: str = "Sign in") -> None:
    _click(driver, _button(button))
    sign_in_at_provider(driver, app.provider, login)  # waits to be at the provider first
    results_when(driver, settled, timeout_s=30)


def test_signed_out_provider_signed_in_pages_signed_out_nothing(
    fresh_browser: webdriver.Chrome, signed_app: SignedApp, browser_contest: Pipeline
) -> None:
    driver = fresh_browser
    driver.get(signed_app.url)
    _nothing_of_the_contest(_sign_in_page(driver))
    save(driver, "sign-in.png")
    driver.get(f"{signed_app.url}/logs")  # no page is reachable around the sign-in
    _nothing_of_the_contest(_sign_in_page(driver))

    _sign_in(driver, signed_app, VIEWER)  # redirected to the provider, and back
    assert driver.current_url.startswith(signed_app.url)
    shown = results_when(driver, settled, timeout_s=30)
    assert shown["metrics"]["Total votes"] == str(browser_contest.db["votes"].count_documents({}))
    page = _body(driver)
    assert f"Signed in as {email_of(VIEWER)}" in page
    assert "May look; only organisers may replay dead letters." in page

    _click(driver, _button("Sign out"))
    confirm_sign_out_at_provider(driver, signed_app.provider)
    _nothing_of_the_contest(_sign_in_page(driver))
    assert driver.current_url.startswith(signed_app.url)
    driver.get(f"{signed_app.url}/dead-letters")
    _nothing_of_the_contest(_sign_in_page(driver))


def test_an_organiser_is_told_they_may_replay(
    fresh_browser: webdriver.Chrome, signed_app: SignedApp
) -> None:
    fresh_browser.get(signed_app.url)
    _sign_in_page(fresh_browser)
    _sign_in(fresh_browser, signed_app, ORGANISER)
    page = _body(fresh_browser)
    assert f"Signed in as {email_of(ORGANISER)}" in page
    assert "Organiser: may replay dead letters." in page


def test_the_sign_in_page_speaks_the_browser_language(signed_app: SignedApp) -> None:
    with headless_chromium("es") as driver:
        driver.get(signed_app.url)
        page = _sign_in_page(driver, "Iniciar sesión")
        assert "Inicie sesión con su cuenta" in page
        _nothing_of_the_contest(page)


def _dead_letters_page(
    driver: webdriver.Chrome, page: str = "Dead letters", listed: str = "Dead letters listed: 2"
) -> None:
    _click(driver, f"//*[@data-testid='stSidebarNav']//a[contains(., '{page}')]")
    WebDriverWait(driver, 30, poll_frequency=0.1).until(lambda d: listed in _body(d))


def _choose_all(
    driver: webdriver.Chrome, all_listed: str = "All listed", preview: str = "Preview"
) -> None:
    _click(driver, f"//*[@data-testid='stCheckbox']//label[contains(., '{all_listed}')]")
    WebDriverWait(driver, 10, poll_frequency=0.1).until(
        lambda d: d.find_element(By.XPATH, _button(preview)).is_enabled()
    )


def _shown(driver: webdriver.Chrome, *texts: str) -> str:
    WebDriverWait(driver, 30, poll_frequency=0.1).until(
        lambda d: all(text in _body(d) for text in texts)
    )
    return _body(driver)


def test_a_viewer_may_preview_but_not_replay(
    fresh_browser: webdriver.Chrome, signed_app: SignedApp, browser_contest: Pipeline
) -> None:
    fresh_browser.get(signed_app.url)
    _sign_in_page(fresh_browser)
    _sign_in(fresh_browser, signed_app, VIEWER)
    _dead_letters_page(fresh_browser)
    _choose_all(fresh_browser)
    replay = fresh_browser.find_element(By.XPATH, "//button[normalize-space(.)='Replay']")
    assert not replay.is_enabled()
    assert "Only organisers may replay dead letters; you may preview." in _body(fresh_browser)
    _click(fresh_browser, _button("Preview"))
    _shown(fresh_browser, "would be counted: 1", "would stay a dead letter: 1")
    assert browser_contest.db["dead_letter_replays"].count_documents({}) == 0


def test_in_spanish_pages_then_a_viewer_cannot_replay_then_signed_out_nothing(
    signed_app: SignedApp, browser_contest: Pipeline
) -> None:
    """The whole way in a Spanish browser: sign-in page, provider, pages, no replay, sign-out."""
    votes = browser_contest.db["votes"].count_documents({})
    with headless_chromium("es") as driver:
        driver.get(signed_app.url)
        _nothing_of_the_contest(_sign_in_page(driver, "Iniciar sesión"), SPANISH_CONTEST_WORDS)
        _sign_in(driver, signed_app, VIEWER, "Iniciar sesión")
        shown = results_when(driver, settled, timeout_s=30)
        assert shown["metrics"]["Votos en total"] == str(votes)
        legacy = browser_contest.db["votes"].count_documents({"channel": "legacy"})
        assert shown["metrics"]["Votos por productor anterior"] == str(legacy) == "15"
        page = _body(driver)
        assert f"Sesión iniciada como {email_of(VIEWER)}" in page
        assert "Puede consultar; solo los organizadores reenvían mensajes fallidos." in page

        _dead_letters_page(driver, "Mensajes fallidos", "Mensajes fallidos en la lista: 2")
        _choose_all(driver, "Todos los de la lista", "Vista previa")
        assert not driver.find_element(By.XPATH, _button("Reenviar")).is_enabled()
        assert "Solo los organizadores reenvían mensajes fallidos" in _body(driver)
        _click(driver, _button("Vista previa"))
        _shown(driver, "se contaría: 1", "seguiría siendo un mensaje fallido: 1")
        assert browser_contest.db["dead_letter_replays"].count_documents({}) == 0
        save(driver, "dead-letters-preview-es.png")

        _click(driver, _button("Cerrar sesión"))
        confirm_sign_out_at_provider(driver, signed_app.provider)
        _nothing_of_the_contest(_sign_in_page(driver, "Iniciar sesión"), SPANISH_CONTEST_WORDS)
        driver.get(f"{signed_app.url}/dead-letters")
        _nothing_of_the_contest(_sign_in_page(driver, "Iniciar sesión"), SPANISH_CONTEST_WORDS)


def test_an_organiser_replays_and_the_replay_is_recorded_in_their_name(
    fresh_browser: webdriver.Chrome, signed_app: SignedApp, browser_contest: Pipeline
) -> None:
    votes_before = browser_contest.db["votes"].count_documents({})
    fresh_browser.get(signed_app.url)
    _sign_in_page(fresh_browser)
    _sign_in(fresh_browser, signed_app, ORGANISER)
    _dead_letters_page(fresh_browser)
    _choose_all(fresh_browser)
    _click(fresh_browser, _button("Preview"))
    _shown(fresh_browser, "would be counted: 1", "would stay a dead letter: 1")
    _click(fresh_browser, _button("Replay"))
    page = _shown(fresh_browser, "Replayed by ana@example.org", "counted: put right: 1")
    assert "still a dead letter: 1" in page
    save(fresh_browser, "dead-letters-replayed.png")

    assert browser_contest.db["votes"].count_documents({}) == votes_before + 1
    counted = browser_contest.db["votes"].count_documents({"name": NEW_BAND})
    assert counted == 1
    assert int(browser_contest.redis.hget("votes:by_band", NEW_BAND) or 0) == 1
    records = list(browser_contest.db["dead_letter_replays"].find())
    assert {r["by"] for r in records} == {email_of(ORGANISER)}
    assert sorted(r["outcome"] for r in records) == ["counted", "still_dead"]
