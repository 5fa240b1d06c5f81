"""Browser tests: Debian's Chromium, headless, driven by Playwright, against real running parts.

Playwright's Python package brings its driver; the browser is the system's /usr/bin/chromium
(or $CHROMIUM), never one Playwright downloads. `make test` installs Debian's chromium first
when it is missing and it can (root with apt-get); otherwise these tests skip, saying what is
missing. Chromium runs with a fresh profile and its background traffic switched off: the
only addresses it is sent to are the loopback servers of the tests.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Error, Page, ViewportSize, async_playwright

from tests.browser.hostile_publisher import HostilePublisher, hostile_publisher
from tests.e2e.receivers import Receiver, receiver
from tests.e2e.system import System, running_system

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The size the pages are made for (and the README's screenshots are taken at).
LAPTOP: ViewportSize = {"width": 1366, "height": 768}
# Screenshots go to docs/screenshots only when asked, so a test run leaves the tree clean.
SCREENSHOTS_VARIABLE = "POSTBACKS_UPDATE_SCREENSHOTS"
REPOSITORY_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
HERE = Path(__file__).resolve().parent


def _missing() -> str | None:
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        return (
            f"Chromium not found at {CHROMIUM}: install Debian's chromium package "
            "(`make browser-deps` does as root) or set CHROMIUM to a Chromium binary"
        )
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    missing = _missing()
    if missing is None:
        return
    for item in items:
        # Only the tests that drive a browser: the asset checks here need none.
        if "page" in getattr(item, "fixturenames", ()) and HERE in item.path.parents:
            item.add_marker(pytest.mark.skip(reason=f"browser tests skipped: {missing}"))


@pytest.fixture(scope="package")
async def browser_context(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[BrowserContext]:
    driver = await async_playwright().start()
    context = await driver.chromium.launch_persistent_context(
        tmp_path_factory.mktemp("chromium-profile"),
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_ARGS,
        viewport=LAPTOP,
        accept_downloads=True,
        timezone_id="UTC",
        locale="en-GB",
    )
    context.set_default_timeout(15_000)
    yield context
    await context.close()
    await driver.stop()


@pytest.fixture
async def page(browser_context: BrowserContext) -> AsyncIterator[Page]:
    """A new tab; a JavaScript exception in it fails the test."""
    tab = await browser_context.new_page()
    errors: list[Error] = []

    def on_error(error: Error) -> None:
        errors.append(error)

    tab.on("pageerror", on_error)
    yield tab
    await tab.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


@pytest.fixture(scope="package")
async def stack(chdb_dir: Path) -> AsyncIterator[System]:
    """The whole pipeline, once for the browser tests (stopped after them, so it idles through
    no other tests): tests keep apart by offer and publisher ids."""
    async with running_system(chdb_dir) as running:
        yield running


@pytest.fixture(scope="package")
def publisher_server() -> Iterator[Receiver]:
    with receiver() as server:
        yield server


@pytest.fixture(scope="package")
def hostile_server() -> Iterator[HostilePublisher]:
    with hostile_publisher() as server:
        yield server


@pytest.fixture(scope="package")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get(SCREENSHOTS_VARIABLE) == "1":
        REPOSITORY_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return REPOSITORY_SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")
