"""Browser journeys: Chromium, driven by Playwright, against the app on a live server,
a real Celery worker and the sandbox, all in this test process and on free ports.

Under xdist every worker process gets its own live server, sandbox, worker queue and
test database, so journeys on different workers never see each other.
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    expect,
    sync_playwright,
)

from sandbox.testing import Sandbox
from tests.e2e.chromium import find_chromium, missing_message

BASE_DIR = Path(__file__).resolve().parents[2]
# Quiet, offline Chromium: no sandboxing (containers lack the namespaces), no GPU, and
# none of the background traffic that would reach for the network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Long enough for the worker to mint and the box's 3-second poll to show it.
EXPECT_TIMEOUT_MS = 15_000


def artifacts_dir() -> Path:
    return Path(os.environ.get("E2E_ARTIFACTS") or BASE_DIR / ".data" / "e2e-artifacts")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failed journey, keep what the browser showed: a screenshot and the HTML."""
    report: pytest.TestReport = yield
    page: Page | None = getattr(item, "funcargs", {}).get("page")
    if report.failed and page is not None and not page.is_closed():
        directory = artifacts_dir()
        directory.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", item.nodeid)
        try:
            page.screenshot(path=directory / f"{name}.png", full_page=True)
            (directory / f"{name}.html").write_text(page.content())
        except Exception as error:  # the browser may be what failed
            report.sections.append(("e2e artifacts", f"not saved: {error!r}"))
        else:
            report.sections.append(
                ("e2e artifacts", f"{directory / name}.png and .html (at {page.url})")
            )
    return report


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = find_chromium()
    if executable is None:
        pytest.fail(missing_message())
    # Playwright's sync API keeps an event loop marked as running in this thread, so
    # Django refuses ORM calls from the test code while the browser is up. The test
    # code is synchronous and never shares a connection with that loop.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=executable, args=CHROMIUM_ARGS
            )
            yield chromium
            chromium.close()


@pytest.fixture
def site(
    live_server: Any,
    celery_worker: Any,
    sandbox: Sandbox,
    settings: Any,
) -> str:
    """The app as readers reach it, wired to the sandbox and a real worker."""
    callback_url = f"{live_server.url}/auth/x/callback"
    # The sandbox's own callback stays registered for `connect_x`, which connects
    # without a browser.
    sandbox.configure(callback_urls=[callback_url, sandbox.callback_url])
    settings.X_CALLBACK_URL = callback_url
    settings.SITE_URL = live_server.url
    settings.BUX_EXPLORER_TX_URL = "https://explorer.example/tx/{tx}"
    return live_server.url


# Reports every Content-Security-Policy violation of every page to the test.
_REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportCspViolation(
    `${event.violatedDirective} blocked ${event.blockedURI || "inline"} `
    + `at ${event.sourceFile || event.documentURI}:${event.lineNumber}`
  );
});
"""


@pytest.fixture
def page(browser: Browser, site: str) -> Iterator[Page]:
    """A fresh browser tab; the journey fails if any page breaks the site's CSP."""
    context = browser.new_context(base_url=site)
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    violations: list[str] = []

    def record(violation: str) -> None:
        violations.append(violation)

    def record_console(message: ConsoleMessage) -> None:
        # Chromium also logs each violation, including any the event missed.
        if "Content Security Policy" in message.text:
            violations.append(message.text)

    context.expose_function("reportCspViolation", record)
    context.add_init_script(_REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    page.on("console", record_console)
    yield page
    context.close()
    assert violations == [], "Content-Security-Policy violations:\n" + "\n".join(
        violations
    )
