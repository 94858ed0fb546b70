"""The running app in Debian's headless Chromium: the numbers on screen are the databases' numbers.

The app runs as ``certamen streamlit`` (the real entry point) on a free port in
17000-17999, against a contest filled by the consumer's code, and is read by two
browsers: one that asks for English and one that asks for Spanish. Screenshots
of the pages go to docs/screenshots/. Waits are for elements and values, bounded;
Chromium's first paint can be a skeleton, so nothing is read before it is there.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from certamen.results.i18n import formats_for
from certamen.settings import Settings
from tests.browser.chromium import (
    LIVE_UPDATE_WAIT_S,
    headless_chromium,
    results_when,
    save,
    settled,
)
from tests.browser.streamlit_run import running_app
from tests.support.processes import free_port
from tests.support.tally_fill import (
    Pipeline,
    example_catalog,
    sample_votes,
)

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
PORTS = range(17500, 17600)
SPANISH = "es"  # what a browser set to Spanish asks for
CONTEST_ZONE = "America/Guatemala"


@pytest.fixture(scope="module")
def spanish_browser() -> Iterator[webdriver.Chrome]:
    """Headless Chromium whose language is Spanish."""
    with headless_chromium(SPANISH) as driver:
        yield driver


@pytest.fixture(scope="module")
def app_url(
    browser_contest: Pipeline, infra: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``certamen streamlit`` on a free port, pointed at the contest; stopped afterwards."""
    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    with running_app(free_port(PORTS), infra, browser_contest.db.name, log) as url:
        yield url


def test_results_page_shows_the_numbers_of_the_databases(
    browser: webdriver.Chrome, app_url: str, browser_contest: Pipeline
) -> None:
    logged = list(browser_contest.db["votes"].find())
    browser.get(app_url)
    shown = results_when(
        browser,
        settled,
        timeout_s=30,
    )
    metrics = shown["metrics"]
    assert metrics["Total votes"] == str(len(logged)) == "45"
    channels = Counter(d["channel"] for d in logged)
    assert metrics["Votes via gRPC"] == str(channels["grpc"])
    assert metrics["Votes via WebAssembly"] == str(channels["wasm"])
    assert metrics["Votes via legacy producer"] == str(channels["legacy"]) == "15"
    assert metrics["Dead letters"] == "1"
    bands, albums = shown["tables"]
    per_band = Counter(d["name"] for d in logged)
    assert {band: int(votes) for band, votes in bands} == {
        band: per_band.get(band, 0) for band in example_catalog().bands
    }
    assert len(albums) == len(example_catalog().candidates)
    save(browser, "results.png")


def test_logs_page_shows_the_matching_count(
    browser: webdriver.Chrome, app_url: str, browser_contest: Pipeline
) -> None:
    total = browser_contest.db["votes"].count_documents({})
    browser.get(f"{app_url}/logs")
    _wait_for_text(browser, f"Matching votes: {total}", table=True)
    save(browser, "logs.png")
    browser.get(f"{app_url}/dead-letters")
    _wait_for_text(browser, "Dead letters listed: 1", table=True)
    save(browser, "dead-letters.png")


def _wait_for_text(driver: webdriver.Chrome, *texts: str, table: bool = False) -> str:
    """The page's text once it holds every one of ``texts`` (and a data table, if asked)."""
    body: list[str] = []

    def shown(d: webdriver.Chrome) -> bool:
        body[:] = [d.find_element(By.TAG_NAME, "body").text]
        has_table = bool(d.find_elements(By.CSS_SELECTOR, '[data-testid="stDataFrame"]'))
        return all(text in body[0] for text in texts) and (has_table or not table)

    WebDriverWait(driver, 30, poll_frequency=0.05).until(shown)
    return body[0]


def test_new_votes_show_on_results_without_a_reload(
    browser: webdriver.Chrome, app_url: str, browser_contest: Pipeline
) -> None:
    browser.get(app_url)
    first_paint = results_when(  # first paint done: numbers, tables and charts are there
        browser,
        settled,
        timeout_s=30,
    )
    before = int(first_paint["metrics"]["Total votes"])
    browser_contest.count(sample_votes(example_catalog(), 5, seed=11))
    written = time.monotonic()
    results_when(
        browser,
        lambda s: s["metrics"].get("Total votes") == str(before + 5),
        timeout_s=LIVE_UPDATE_WAIT_S,
    )
    elapsed = time.monotonic() - written
    print(f"\nnew votes on screen {elapsed:.2f} s after the write")


def test_a_spanish_browser_gets_the_app_in_spanish(
    spanish_browser: webdriver.Chrome, app_url: str, browser_contest: Pipeline
) -> None:
    """Titles, labels and numbers in Spanish, times in the contest's zone, on every page."""
    logged = list(browser_contest.db["votes"].find())
    spanish_browser.get(app_url)
    shown = results_when(spanish_browser, settled, timeout_s=30)
    body = spanish_browser.find_element(By.TAG_NAME, "body").text
    assert "Resultados" in body and "Registro" in body and "Auditoría" in body  # navigation
    metrics = shown["metrics"]
    assert metrics["Votos en total"] == str(len(logged))
    assert metrics["Mensajes fallidos"] == "1"
    legacy = sum(d["channel"] == "legacy" for d in logged)
    assert legacy > 0 and metrics["Votos por productor anterior"] == str(legacy)
    _, albums = shown["tables"]
    spanish = formats_for("es", SPANISH, CONTEST_ZONE)
    averages = {row[3] for row in albums}
    assert "aún sin votos" in averages  # the albums nobody voted for
    assert any("," in average for average in averages), averages  # decimal comma
    save(spanish_browser, "results-es.png")

    spanish_browser.get(f"{app_url}/logs")
    _wait_for_text(
        spanish_browser,
        f"Votos que coinciden: {len(logged)}",
        f"Desde ({CONTEST_ZONE})",
        "Buscar banda o álbum",
        table=True,
    )
    save(spanish_browser, "logs-es.png")

    spanish_browser.get(f"{app_url}/dead-letters")
    _wait_for_text(
        spanish_browser,
        "Mensajes fallidos en la lista: 1",
        "Mensajes fallidos por motivo",
        table=True,
    )
    save(spanish_browser, "dead-letters-es.png")
    assert spanish.count(1234) == "1.234"  # what a larger contest would show


def test_the_picker_switches_a_spanish_browser_to_english(
    spanish_browser: webdriver.Chrome, app_url: str
) -> None:
    spanish_browser.get(app_url)
    results_when(spanish_browser, lambda s: "Votos en total" in s["metrics"], timeout_s=30)
    spanish_browser.find_element(
        By.XPATH, "//*[@data-testid='stSidebar']//button[normalize-space(.)='English']"
    ).click()
    results_when(spanish_browser, lambda s: "Total votes" in s["metrics"], timeout_s=30)
    WebDriverWait(spanish_browser, 10).until(lambda d: "language=English" in d.current_url)
    spanish_browser.get(spanish_browser.current_url)  # a reload keeps the choice
    results_when(spanish_browser, lambda s: "Total votes" in s["metrics"], timeout_s=30)
    spanish_browser.find_element(
        By.XPATH, "//*[@data-testid='stSidebarNav']//a[contains(., 'Logs')]"
    ).click()
    _wait_for_text(spanish_browser, "Matching votes:", table=True)
