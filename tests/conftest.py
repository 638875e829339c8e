"""Shared fixtures: app -> db -> client -> workspace admin/staff tokens, on SQLite and PostgreSQL.

Every test that takes ``app`` runs once per backend: ``sqlite`` always, ``postgresql`` when
``OPSLOOM_TEST_DATABASE_URL`` is set. With ``OPSLOOM_TEST_REQUIRE_ALL=1`` a missing service
(or browser) is a failure, not a skip, so CI cannot pass without running everything.

Speed: the schema is migrated once per test process (a SQLite template file copied per
test; one PostgreSQL schema per xdist worker, truncated after each test).
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import create_engine, text

import opsloom.form_engine.import_models  # (the import log is truncated between tests too)
import opsloom.form_engine.models  # noqa: F401  (its tables are truncated between tests too)
from opsloom.platform.db import Base, Database
from opsloom.platform.migrations import upgrade

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    import click
    from click.testing import Result
    from flask import Flask
    from flask.testing import FlaskClient
    from werkzeug.test import TestResponse

PROBLEM = "application/problem+json"
REQUIRE_ALL = os.environ.get("OPSLOOM_TEST_REQUIRE_ALL") == "1"
PG_URL = os.environ.get("OPSLOOM_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("OPSLOOM_TEST_REDIS_URL", "")


def missing_service(reason: str) -> None:
    """Skip for a missing service, or fail when CI demands every suite."""
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (OPSLOOM_TEST_REQUIRE_ALL=1 forbids skipping)", pytrace=False)
    pytest.skip(reason)


# ---------------------------------------------------------------- databases


def _pg_url(schema: str) -> str:
    url = PG_URL
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    database = Database(f"sqlite:///{path}")
    upgrade(database)
    database.dispose()
    return path


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[str]:
    if not PG_URL:
        missing_service("PostgreSQL tests need OPSLOOM_TEST_DATABASE_URL")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    schema = f"t_{worker}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(_pg_url("public"))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    database = Database(_pg_url(schema))
    upgrade(database)
    database.dispose()
    yield schema
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database for one test."""
    if request.param == "sqlite":
        target = tmp_path / "opsloom.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        yield f"sqlite:///{target}"
        return
    schema = request.getfixturevalue("pg_schema")
    url = _pg_url(schema)
    yield url
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        # entity tables made by publishes live in the same schema; drop them too
        extra = conn.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = :s AND tablename <> 'alembic_version'"
            ),
            {"s": schema},
        ).scalars().all()
        known = {t.name for t in Base.metadata.sorted_tables}
        for name in extra:
            if name not in known:
                conn.execute(text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def app_config(database_url: str, tmp_path: Path) -> dict[str, Any]:
    """Settings for a test app; tests may change them before asking for ``app``."""
    return {
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": "test-secret",
        "TESTING": True,
        # jobs run only when a test drains them (see ``drain_jobs``)
        "JOBS_MODE": "off",
        "LOAD_ENTRY_POINTS": False,
        "PASSWORD_HASH_PROFILE": "fast",
    }


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    from opsloom import create_app

    application = create_app(app_config)
    yield application
    application.extensions["opsloom.db"].dispose()


@pytest.fixture
def db(app: Flask) -> Database:
    return app.extensions["opsloom.db"]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


# ---------------------------------------------------------------- people


@dataclass
class Member:
    """A signed-up user of a workspace, with a ready API token."""

    user_id: int
    username: str
    password: str
    workspace_id: int
    workspace_key: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_member(app: Flask, workspace_key: str, username: str, *, admin: bool) -> Member:
    """Create (or reuse) ``workspace_key``, a user in it (admin or staff) and an API token."""
    from opsloom.platform.auth import service as identity

    password = f"pw-{username}-123456"
    with app.extensions["opsloom.db"].session_scope() as session:
        workspace = identity.ensure_workspace(session, key=workspace_key, name=workspace_key.title())
        user = identity.create_user(session, username=username, password=password, display_name=username.title())
        identity.add_member(session, workspace, user, role_keys=["admin"] if admin else ["staff"])
        _token_row, token = identity.issue_token(session, user=user, workspace=workspace, name="tests")
        return Member(user.id, username, password, workspace.id, workspace.key, token)


@pytest.fixture
def admin(app: Flask) -> Member:
    """The administrator of workspace ``acme``."""
    return make_member(app, "acme", "alice", admin=True)


@pytest.fixture
def staff(app: Flask, admin: Member) -> Member:
    """A staff member (no admin role) of workspace ``acme``."""
    return make_member(app, "acme", "sam", admin=False)


@pytest.fixture
def outsider(app: Flask) -> Member:
    """The administrator of another workspace, ``globex``: must never see ``acme``'s data."""
    return make_member(app, "globex", "olga", admin=True)


# ---------------------------------------------------------------- guards


@pytest.fixture(autouse=True)
def _no_leaked_app_context() -> Iterator[None]:
    from flask import has_app_context

    yield
    if has_app_context():
        pytest.fail("the test left a Flask app context pushed")


def database_state(app: Flask) -> dict[str, Any]:
    """Every table's columns, indexes and rows, in a stable order: equal before and after = nothing changed.

    Reflected from the database, so entity tables made by publishes (and their columns) count too.
    """
    from sqlalchemy import MetaData, inspect, select

    state: dict[str, Any] = {}
    database = app.extensions["opsloom.db"]
    with database.engine.connect() as conn:
        inspector = inspect(conn)
        metadata = MetaData()
        metadata.reflect(conn)
        for table in metadata.sorted_tables:
            if table.name == "alembic_version":
                continue
            columns = [(c["name"], str(c["type"])) for c in inspector.get_columns(table.name)]
            indexes = sorted(
                (i["name"] or "", tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table.name)
            )
            rows = sorted(tuple(map(repr, row)) for row in conn.execute(select(table)).all())
            state[table.name] = {"columns": columns, "indexes": indexes, "rows": rows}
    return state


@pytest.fixture
def statements(app: Flask) -> Iterator[list[str]]:
    """Every SQL statement the app's engine runs from now on (driver-cursor statements included)."""
    from sqlalchemy import event

    engine = app.extensions["opsloom.db"].engine
    seen: list[str] = []

    def remember(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", remember)
    yield seen
    event.remove(engine, "before_cursor_execute", remember)


@pytest.fixture
def snapshot(app: Flask) -> Any:
    """``snapshot()`` returns the whole database state; assert it is unchanged after a bad request."""
    return lambda: database_state(app)


# ---------------------------------------------------------------- answers and commands


def assert_problem(response: TestResponse, status: int) -> dict[str, Any]:
    """The RFC 9457 body of ``response``, which must be a problem+json with ``status``."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == status
    assert body["detail"]
    assert body["type"].startswith("/problems/")
    return body


def command_line(
    app_config: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    register: Callable[[click.Group], None],
    *words: str,
) -> Callable[..., Result]:
    """Run the commands ``register`` adds (``words``: the group, e.g. ``"user"``) on the test database.

    The CLI builds its own app from ``OPSLOOM_*`` variables, so the test app's settings
    become variables (plugin classes cannot travel that way and are left out).
    """
    import json

    import click
    from click.testing import CliRunner

    for name, value in app_config.items():
        if name != "PLUGINS":
            monkeypatch.setenv(f"OPSLOOM_{name}", value if isinstance(value, str) else json.dumps(value))
    group = click.Group()
    register(group)

    def invoke(*args: str, stdin: str | None = None) -> Result:
        return CliRunner().invoke(group, [*words, *args], input=stdin, catch_exceptions=False)

    return invoke


# ---------------------------------------------------------------- entities


def publish_entity(
    client: FlaskClient,
    member: Member,
    body: dict[str, Any],
    *,
    app_key: str = "crm",
    force: bool = False,
    expect: int = 200,
) -> dict[str, Any]:
    """Save ``body`` as the draft of entity ``body["key"]`` in ``app_key`` (created if missing) and publish it.

    Returns the publish answer (``report`` lists the schema changes); asserts the status.
    """
    if client.get(f"/api/v1/apps/{app_key}", headers=member.headers).status_code == 404:
        created = client.post(
            "/api/v1/apps", json={"key": app_key, "label": app_key.upper()}, headers=member.headers
        )
        assert created.status_code == 201, created.get_json()
    saved = client.put(f"/api/v1/apps/{app_key}/entities/{body['key']}", json=body, headers=member.headers)
    assert saved.status_code == 200, saved.get_json()
    published = client.post(
        f"/api/v1/apps/{app_key}/entities/{body['key']}/publish",
        json={"options": {"force": True}} if force else {},
        headers=member.headers,
    )
    assert published.status_code == expect, published.get_json()
    return published.get_json()
