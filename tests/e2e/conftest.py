"""Browser fixtures: a real opsloom server on 127.0.0.1 and Debian's Chromium driven by Playwright.

The server is the real app (SQLite in a temporary folder, migrated, a workspace admin
seeded) served by werkzeug in a thread on a free port. Chromium is ``/usr/bin/chromium``,
headless; when it is missing the browser tests skip, or fail under
``OPSLOOM_TEST_REQUIRE_ALL=1``.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

CHROMIUM = Path(os.environ.get("OPSLOOM_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu"]
VENDOR = Path(__file__).resolve().parents[2] / "opsloom" / "platform" / "static" / "vendor"


def _missing(reason: str) -> None:
    if os.environ.get("OPSLOOM_TEST_REQUIRE_ALL") == "1":
        pytest.fail(f"{reason} (OPSLOOM_TEST_REQUIRE_ALL=1 forbids skipping)", pytrace=False)
    pytest.skip(reason)


@dataclass
class LiveServer:
    url: str
    admin_username: str
    admin_password: str
    staff_username: str
    staff_password: str
    app: Any = field(repr=False, default=None)


def _seed(app: Any) -> dict[str, str]:
    """A workspace ``acme`` with an admin (also member of ``globex``, for the switcher) and a staff user."""
    from opsloom.platform.auth import service as identity
    from opsloom.platform.db import utcnow
    from opsloom.platform.models import EventDelivery, OutboxEvent

    people = {"admin": "e2e-admin-password", "staff": "e2e-staff-password"}
    with app.extensions["opsloom.db"].session_scope() as session:
        acme = identity.ensure_workspace(session, key="acme", name="Acme Support")
        globex = identity.ensure_workspace(session, key="globex", name="Globex Care")
        admin = identity.create_user(
            session, username="ada", password=people["admin"], display_name="Ada Admin"
        )
        staff = identity.create_user(
            session, username="sam", password=people["staff"], display_name="Sam Staff"
        )
        identity.add_member(session, acme, admin, role_keys=["admin"])
        identity.add_member(session, globex, admin, role_keys=["admin"])
        identity.add_member(session, acme, staff, role_keys=["staff"])
        # a dead letter for the job monitor's retry button
        event = OutboxEvent(workspace_id=acme.id, type="e2e.event", payload={}, dispatched_at=utcnow())
        session.add(event)
        session.flush()
        session.add(
            EventDelivery(
                event_id=event.id,
                workspace_id=acme.id,
                handler="e2e.handler",
                status="dead",
                attempts=5,
                last_error="RuntimeError: e2e",
            )
        )
    return people


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    from werkzeug.serving import make_server

    from opsloom import create_app
    from opsloom.platform.db import Database
    from opsloom.platform.migrations import upgrade

    if not (VENDOR / "manifest.json").is_file():
        pytest.fail(
            "the front-end files are missing: run `npm ci` and `python scripts/vendor.py`", pytrace=False
        )
    folder = tmp_path_factory.mktemp("e2e")
    url = f"sqlite:///{folder / 'opsloom.db'}"
    database = Database(url)
    upgrade(database)
    database.dispose()
    app = create_app(
        {
            "DATABASE_URL": url,
            "INSTANCE_PATH": str(folder / "instance"),
            "SECRET_KEY": "e2e-secret",
            "JOBS_MODE": "off",
            "LOAD_ENTRY_POINTS": False,
        }
    )
    people = _seed(app)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log lines in test output
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="e2e-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(
            url=f"http://127.0.0.1:{server.server_port}",
            admin_username="ada",
            admin_password=people["admin"],
            staff_username="sam",
            staff_password=people["staff"],
            app=app,
        )
    finally:
        server.shutdown()
        thread.join(timeout=10)
        app.extensions["opsloom.db"].dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _missing(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("browser tests need the playwright package (pip install playwright)")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield instance
        finally:
            instance.close()


@dataclass
class PageProblems:
    """Everything a page complained about: console errors, uncaught exceptions, CSP violations."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    def all(self) -> list[str]:
        return self.console_errors + self.page_errors + self.failed_requests


# reports CSP violations to the console even where Chromium would only count them
_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + e.blockedURI);
});
"""


@pytest.fixture
def browser_page(browser: Any, live_server: LiveServer) -> Iterator[tuple[Any, PageProblems]]:
    """A fresh browser tab on the live server, and the list of everything its pages complained about."""
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    context.add_init_script(_CSP_LISTENER)
    tab = context.new_page()
    problems = PageProblems()
    tab.on(
        "console",
        lambda msg: msg.type == "error" and problems.console_errors.append(f"{tab.url}: {msg.text}"),
    )
    tab.on("pageerror", lambda exc: problems.page_errors.append(f"{tab.url}: {exc}"))
    tab.on(
        "response",
        lambda response: (
            response.status >= 400 and problems.failed_requests.append(f"{response.status} {response.url}")
        ),
    )
    try:
        yield tab, problems
    finally:
        context.close()
