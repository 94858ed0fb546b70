"""Driving Debian's headless Chromium for the browser tests, and reading the Results page.

Reads are one JavaScript snapshot (metrics, tables, drawn charts) so that a
fragment re-rendering between two element look-ups cannot tear the picture.
Waits poll that snapshot until a condition holds, bounded; never a fixed sleep.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# How long a test waits for new votes to appear on Results without a reload. The
# "within two seconds" goal is a speed figure, printed by these tests and reported,
# not asserted: a timed assertion fails on a loaded machine, not on a slow page.
LIVE_UPDATE_WAIT_S = 15.0

Snapshot = dict[str, Any]

# What the Results page shows: metric label -> value, the tables' rows, how many charts are drawn.
_READ_RESULTS = """
const metrics = {};
for (const m of document.querySelectorAll('[data-testid="stMetric"]')) {
  const label = m.querySelector('[data-testid="stMetricLabel"]');
  const value = m.querySelector('[data-testid="stMetricValue"]');
  if (label && value) metrics[label.innerText.trim()] = value.innerText.trim();
}
const tables = [...document.querySelectorAll('[data-testid="stTable"] table')].map(
  t => [...t.querySelectorAll('tbody tr')].map(
    r => [...r.querySelectorAll('th, td')].map(c => c.innerText.trim())));
const charts = document.querySelectorAll('[data-testid="stVegaLiteChart"] canvas, '
  + '[data-testid="stVegaLiteChart"] svg.marks').length;
return {metrics, tables, charts};
"""


@contextmanager
def headless_chromium(language: str = "en-US") -> Iterator[webdriver.Chrome]:
    """Headless Chromium from Debian, as root, in a throw-away profile.

    ``language`` is what the browser asks for (``navigator.language`` and
    Accept-Language), as a person's browser set to that language would.
    """
    profile = tempfile.mkdtemp(prefix="certamen-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    options.add_argument(f"--lang={language}")
    options.add_experimental_option("prefs", {"intl.accept_languages": language})
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1400,2300",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def results_when(
    driver: webdriver.Chrome, ready: Callable[[Snapshot], object], timeout_s: float
) -> Snapshot:
    """The Results page's snapshot once ``ready(snapshot)`` holds, waiting at most ``timeout_s``."""
    found: Snapshot = {}

    def check(d: webdriver.Chrome) -> bool:
        found.update(d.execute_script(_READ_RESULTS))
        return bool(ready(found))

    WebDriverWait(driver, timeout_s, poll_frequency=0.05).until(check)
    return found


def settled(snapshot: Snapshot) -> bool:
    """The first paint is over: numbers, both tables and the charts are on the page."""
    return bool(
        len(snapshot["metrics"]) >= 4 and len(snapshot["tables"]) == 2 and snapshot["charts"] >= 5
    )


def save(driver: webdriver.Chrome, name: str) -> Path:
    """A screenshot of the window into docs/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    driver.save_screenshot(str(path))
    return path
