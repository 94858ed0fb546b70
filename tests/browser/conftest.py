"""The browser tests' Chromium: one per module, closed afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium import webdriver

from tests.browser.chromium import headless_chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    """Headless Chromium, shared by a module's tests."""
    with headless_chromium() as driver:
        yield driver
