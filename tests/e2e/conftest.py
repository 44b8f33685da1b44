"""Browser tests: Playwright driving the system's Chromium against a live server.

They skip, with the reason, where /usr/bin/chromium is absent; in CI (CI=true) a missing
Chromium is an error instead, so that the journeys really run there. Screenshots are kept in
test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from tests.conftest import make_app

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PHONE = {"width": 360, "height": 740}


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the browser tests, but {CHROMIUM} is missing")
        pytest.skip(f"Chromium not found at {CHROMIUM}: browser tests skipped")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


def buffered(app: Any) -> Any:
    """The app with each response body read whole, and its iterable closed, before any byte is sent.

    Werkzeug's development server skips closing the response when the browser drops the
    connection while it reads the request's leftovers (a page left while its favicon loads): the
    static file stays open and its ResourceWarning fails whichever later test collects it.
    """

    def wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            if hasattr(body, "close"):
                body.close()

    return wsgi


class LiveServer:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.server = make_server("127.0.0.1", 0, buffered(app), threaded=True)
        # closing the server waits for the requests in flight (their threads are not daemons)
        self.server.daemon_threads = False
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.server.server_close()


@pytest.fixture
def live_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """The app served on a free loopback port, on its own fresh database."""
    app = make_app(database_url, tmp_path / "live")
    with LiveServer(app) as server:
        yield server
    with app.app_context():
        from produce_match.extensions import db

        db.session.remove()
        db.engine.dispose()


def new_phone(browser: Any, base_url: str, **options: Any) -> Any:
    """A page 360 px wide in a Chinese-speaking phone browser of its own (its own cookies) on
    the site at `base_url`; close it with `page.context.close()`."""
    context = browser.new_context(
        viewport=PHONE,
        locale="zh-CN",
        base_url=base_url,
        device_scale_factor=1,
        is_mobile=True,
        has_touch=True,
        **options,
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    return page


@pytest.fixture
def phone_page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """A 360 px wide page in a Chinese-speaking browser."""
    page = new_phone(browser, live_server.url)
    violations = watch_csp(page)
    yield page
    page.context.close()
    assert violations == [], "the Content-Security-Policy blocked something"


def watch_csp(page: Any) -> list[str]:
    """Collect what the browser reports the Content-Security-Policy refused on this page."""
    seen: list[str] = []

    def on_console(message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            seen.append(message.text)

    page.on("console", on_console)
    return seen


def submit(button: Any) -> None:
    """Click a form's button and wait until the page it leads to (after any redirect) has loaded.

    A click returns once the browser has sent the form; reading the page then can catch the old
    document or the new one before it has any content (an empty string), so every check that
    follows a submit starts from here.
    """
    with button.page.expect_navigation(wait_until="load"):
        button.click()


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def fits_the_screen(page: Any) -> bool:
    """No sideways scrolling: the page is no wider than the phone."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
