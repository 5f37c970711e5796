"""A real browser for the report tests: the OS's Chromium driven by Playwright, and Mermaid's bundle.

`bash tools/test-deps` installs both (README, command 2). They are never skipped: a report that
no browser opened is not tested, so a missing one fails the test with how to install it.

Each test module starts its own browser and each test its own context, so tests share no state
under pytest-xdist. Pages may load `file:` and `data:` URLs only: every other request is
aborted and recorded (`Watched.requests`), so a report that tries to reach the network fails its
test instead of reaching it, and console errors are recorded as well.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Route, sync_playwright

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("ASR_AUDIT_CHROMIUM", "/usr/bin/chromium"))
MERMAID_JS = Path(
    os.environ.get(
        "ASR_AUDIT_MERMAID_JS", REPO / ".test-deps" / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
    )
)
INSTALL = "run `bash tools/test-deps` (Chromium from the OS packages, Mermaid from npm)"
# A headless browser on a closed network: no sandbox (root in CI), and none of the background
# fetches (updates, sync, safe browsing lists) that would otherwise flood refused connections.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCAL = ("file:", "data:", "about:")


def require(path: Path, what: str) -> Path:
    if not path.is_file():
        pytest.fail(f"{what} not found at {path}: {INSTALL}", pytrace=False)
    return path


@contextmanager
def chromium() -> Iterator[Browser]:
    executable = require(CHROMIUM, "Chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Watched:
    page: Page
    errors: list[str] = field(default_factory=list)  # console errors and uncaught exceptions
    requests: list[str] = field(default_factory=list)  # what the page tried to fetch off this machine


@contextmanager
def page(browser: Browser, *, width: int = 1400, height: int = 1000) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": width, "height": height})
    watched = Watched(context.new_page())

    def guard(route: Route) -> None:
        if route.request.url.startswith(LOCAL):
            route.continue_()
        else:
            watched.requests.append(route.request.url)
            route.abort()

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watched.errors.append(message.text)

    context.route("**/*", guard)
    watched.page.on("console", console)
    watched.page.on("pageerror", lambda exc: watched.errors.append(str(exc)))
    try:
        yield watched
    finally:
        context.close()
