"""Real-browser fixtures: a real server on a loopback port, Chromium driven by Playwright.

One server and one browser per test module; every test gets a fresh browser context (no
cookies) whose page records dialogs and console errors. Skipped, with the reason, when
/usr/bin/chromium or the playwright package is missing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from parley.config import Settings
from parley.web.app import create_app
from tests.support.live_server import free_port

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
STARTUP_SECONDS = 20.0


@dataclass
class Live:
    url: str
    app: FastAPI

    @property
    def factory(self) -> sessionmaker[Session]:
        factory: sessionmaker[Session] = self.app.state.runtime.factory
        return factory


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[Live]:
    """``create_app`` under uvicorn in a thread, on a temp SQLite library."""
    home = tmp_path_factory.mktemp("browser-home")
    port = free_port()
    settings = Settings(
        home=home,
        database_url=f"sqlite:///{home / 'library.sqlite3'}",
        admin_key="browser-admin-key-0123456789",
        host="127.0.0.1",
        port=port,
        rate_read="100000/minute",
        rate_login="1000/minute",
        rate_share="1000/minute",
    )
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="parley-browser-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the server did not start")
        time.sleep(0.02)
    yield Live(f"http://127.0.0.1:{port}", app)
    server.should_exit = True
    thread.join(timeout=STARTUP_SECONDS)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("browser tests need Chromium at /usr/bin/chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package")
    with sync_api.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@dataclass
class Watched:
    """A page plus what it reported: dialogs opened and console errors."""

    page: Any
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def watched(browser: Any) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    seen = Watched(page)

    def on_dialog(dialog: Any) -> None:
        seen.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("console", lambda m: seen.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: seen.errors.append(f"page error: {error}"))
    yield seen
    context.close()


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page: Any, url: str, name: str, password: str) -> None:
    """Sign in through the log-in form, as a person would."""
    page.goto(f"{url}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("form.stacked button[type=submit]")
    page.wait_for_url("**/library?done=signed-in")


def expect(target: Any) -> Any:
    """Playwright's ``expect`` (imported late: the module is optional)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def switch_to_the_old_branch(page: Any) -> None:
    """On a page of the branched conversation (tests.web.conftest.conversation), follow
    the edited question's "previous" link: the old branch shows, in the same document."""
    page.evaluate("window.__sameDocument = true")
    page.locator("#m-u2b a.branch.prev").click()
    expect(page.locator("#conversation")).to_contain_text("old answer")
    expect(page.locator("#m-u2a .switcher .position")).to_have_text("1 / 2")
    assert "node=a2a" in page.url and page.evaluate("window.__sameDocument") is True
