"""Revision fe_0003 (``import_runs.resolved``) through ``opsloom db upgrade``, on SQLite and PostgreSQL.

A database at fe_0002 with a logged run is upgraded by the CLI: the run keeps its row and
reports no resolutions (``{}``); a downgrade drops the column again.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import create_engine, insert, inspect, select, text

from opsloom.form_engine.import_models import ImportRun
from opsloom.form_engine.import_runs import run_json
from opsloom.platform.cli import cli
from opsloom.platform.db import Database, utcnow
from opsloom.platform.migrations import alembic_config, current_revision, head_revision
from opsloom.platform.models import App
from tests.conftest import PG_URL, _pg_url, missing_service

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (a fresh PostgreSQL schema, dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrate.db'}"
        return
    if not PG_URL:
        missing_service("PostgreSQL tests need OPSLOOM_TEST_DATABASE_URL")
    schema = f"m_{uuid.uuid4().hex[:10]}"
    admin = create_engine(_pg_url("public"))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _pg_url(schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _db_upgrade(url: str, tmp_path: Path, *args: str) -> str:
    env = {
        "OPSLOOM_DATABASE_URL": url,
        "OPSLOOM_INSTANCE_PATH": str(tmp_path / "instance"),
        "OPSLOOM_JOBS_MODE": "off",
        "OPSLOOM_LOAD_ENTRY_POINTS": "false",
    }
    result = CliRunner().invoke(cli, ["db", "upgrade", *args], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def _columns(database: Database) -> set[str]:
    with database.engine.connect() as conn:
        return {c["name"] for c in inspect(conn).get_columns("import_runs")}


def test_fe_0003_adds_the_resolved_column_to_logged_runs(empty_url: str, tmp_path: Path) -> None:
    assert "fe_0003" in (head_revision() or "").split("+")
    # the platform's own branch first (the models below need its head), then the engine's up to fe_0002
    _db_upgrade(empty_url, tmp_path, "--revision", "platform@head")
    _db_upgrade(empty_url, tmp_path, "--revision", "fe_0002")
    database = Database(empty_url)
    try:
        assert "resolved" not in _columns(database)
        with database.session_scope() as session:
            from opsloom.platform.auth import service as identity

            workspace = identity.ensure_workspace(session, key="acme", name="Acme")
            app = App(workspace_id=workspace.id, key="crm", label="CRM")
            session.add(app)
            session.flush()
            # the table as fe_0002 made it: no ``resolved`` in the statement
            session.execute(
                insert(ImportRun.__table__).values(
                    workspace_id=workspace.id,
                    app_id=app.id,
                    entity_key="order",
                    file_name="old.csv",
                    options={"mode": "all_or_nothing"},
                    status="done",
                    written=True,
                    total=1,
                    processed=1,
                    created=1,
                    updated=0,
                    failed=0,
                    errors=[],
                    created_at=utcnow(),
                )
            )

        assert "Database upgraded from" in _db_upgrade(empty_url, tmp_path)
        assert current_revision(database) == head_revision()
        assert "resolved" in _columns(database)
        with database.session_scope() as session:
            run = session.scalars(select(ImportRun)).one()
            assert run.resolved is None
            assert run_json(run)["resolved"] == {}
            run.resolved = {"owner": [{"text": "Wang Fang", "id": 7, "by": "display_name", "target": "user"}]}
        with database.session_scope() as session:
            assert session.scalars(select(ImportRun)).one().resolved["owner"][0]["id"] == 7

        cfg = alembic_config(empty_url)
        with database.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "fe_0002")
        assert "resolved" not in _columns(database)
    finally:
        database.dispose()
