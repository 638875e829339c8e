"""``opsloom worker`` / ``opsloom scheduler tick`` and the embedded worker thread of the web process."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner

from opsloom.platform.cli import _register_all, cli
from opsloom.platform.events import emit, subscribe, subscriptions
from opsloom.platform.jobs import get_runtime

if TYPE_CHECKING:
    from collections.abc import Iterator

    from flask import Flask

    from opsloom.platform.db import Database


@pytest.fixture
def seen() -> Iterator[list[int]]:
    calls: list[int] = []
    subscribe("cli.*", "tests.cli")(lambda event, ctx: calls.append(event.id))
    yield calls
    subscriptions.remove("tests.cli")


@pytest.fixture
def cli_env(app_config: dict[str, Any], app: Flask) -> dict[str, str]:
    """The test app's settings as the ``OPSLOOM_*`` variables a command reads (``app`` migrated the db)."""
    _register_all()
    return {
        "OPSLOOM_DATABASE_URL": app_config["DATABASE_URL"],
        "OPSLOOM_INSTANCE_PATH": app_config["INSTANCE_PATH"],
        "OPSLOOM_SECRET_KEY": "test-secret",
        "OPSLOOM_LOAD_ENTRY_POINTS": "false",
        "OPSLOOM_JOBS_MODE": "off",
        "OPSLOOM_REDIS_URL": "",
    }


def emit_one(db: Database) -> int:
    with db.session_scope() as session:
        row = emit(session, "cli.ping", payload={}, workspace_id=1)
        session.flush()
        return row.id


def test_scheduler_tick_prints_what_ran(cli_env: dict[str, str], db: Database, seen: list[int]) -> None:
    event_id = emit_one(db)
    result = CliRunner().invoke(cli, ["scheduler", "tick"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "events.dispatch @ " in result.output
    assert "ran (events=1 deliveries=1 jobs=1" in result.output
    assert "jobs.housekeeping @ " in result.output
    assert "form_engine.cleanup @ " in result.output  # a plugin's task (the form engine's clean-up)
    assert "enqueued" in result.output
    assert "Ran 3 job(s) in this process" in result.output  # embedded: no Redis to leave them in
    assert seen == [event_id]


def test_worker_burst_delivers_and_exits(cli_env: dict[str, str], db: Database, seen: list[int]) -> None:
    first, second = emit_one(db), emit_one(db)
    result = CliRunner().invoke(cli, ["worker", "--burst"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "Worker stopped after" in result.output
    assert sorted(seen) == [first, second]


def test_worker_refuses_an_unknown_queue(cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["worker", "--burst", "--queues", "nope"], env=cli_env)
    assert result.exit_code == 2
    assert "nope" in result.output


@pytest.fixture
def threaded_app(app_config: dict[str, Any]) -> Iterator[Flask]:
    from opsloom import create_app

    app_config["JOBS_MODE"] = "thread"
    application = create_app(app_config)
    yield application
    get_runtime(application).stop_embedded_worker()
    application.extensions["opsloom.db"].dispose()


def test_embedded_worker_starts_with_the_first_request(threaded_app: Flask, seen: list[int]) -> None:
    runtime = get_runtime(threaded_app)
    assert runtime.embedded is None  # nothing starts in create_app
    threaded_app.test_client().get("/api/v1/openapi.json")
    assert runtime.embedded is not None
    assert runtime.embedded.is_alive()
    event_id = emit_one(threaded_app.extensions["opsloom.db"])
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:
        time.sleep(0.05)
    assert seen == [event_id]
