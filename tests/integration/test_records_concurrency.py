"""Races the database must win: 20 writers at once through RecordService, each in its own transaction."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pytest

from opsloom.form_engine.service import RecordService
from opsloom.platform.auth import service as identity
from opsloom.platform.definitions import service as definitions
from opsloom.platform.errors import Conflict
from opsloom.platform.models import User
from tests.conftest import publish_entity

if TYPE_CHECKING:
    from collections.abc import Callable

    from flask import Flask
    from flask.testing import FlaskClient

    from tests.conftest import Member

THREADS = 20


@pytest.fixture
def entity(client: FlaskClient, admin: Member) -> Member:
    publish_entity(client, admin, {
        "key": "customer",
        "fields": [
            {"key": "name", "type": "text"},
            {"key": "phone", "type": "phone"},
            {"key": "code", "type": "auto_number", "pattern": "C{seq:5}"},
        ],
        "dedup": [["phone"]],
    })
    return admin


def _race(app: Flask, member: Member, work: Callable[[RecordService], Any]) -> list[Any]:
    """Run ``work`` in THREADS threads started together; each result is a value or the exception raised."""
    database = app.extensions["opsloom.db"]
    barrier = threading.Barrier(THREADS)
    results: list[Any] = [None] * THREADS

    with database.session_scope() as session:
        actor = identity.actor_for(session, session.get(User, member.user_id), member.workspace_id, via="test")
        crm = definitions.get_app(session, actor, "crm")

    def run(i: int) -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                # each writer's transaction starts after the barrier: no lock is held while waiting
                with database.session_scope() as session:
                    results[i] = work(RecordService(session, actor, crm))
            except Exception as exc:  # the test inspects what each writer got
                results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_twenty_writers_of_the_same_dedup_key_leave_exactly_one_record(app: Flask, entity: Member) -> None:
    results = _race(app, entity, lambda s: s.create("customer", {"name": "Wang", "phone": "13812345678"}))
    created = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(created) == 1, results
    assert len(refused) == THREADS - 1, results


def test_twenty_patches_of_the_same_version_one_wins(app: Flask, client: FlaskClient, entity: Member) -> None:
    record = client.post("/api/v1/apps/crm/records/customer", json={"name": "Wang"}, headers=entity.headers).get_json()
    results = _race(app, entity, lambda s: s.update("customer", record["id"], {"name": "x", "_version": 1}))
    winners = [r for r in results if isinstance(r, dict)]
    stale = [r for r in results if isinstance(r, Conflict)]
    assert len(winners) == 1, results
    assert len(stale) == THREADS - 1, results
    assert all(r.context.get("current_version") == 2 for r in stale)


def test_twenty_auto_numbers_have_no_gap_and_no_repeat(app: Flask, client: FlaskClient, entity: Member) -> None:
    results = _race(app, entity, lambda s: s.create("customer", {"name": "n"})["code"])
    assert all(isinstance(r, str) for r in results), results
    assert sorted(results) == [f"C{i:05d}" for i in range(1, THREADS + 1)]
