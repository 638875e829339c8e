"""The job monitor API: admins only, workspace-scoped deliveries, dead letters and their retry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select, update

from opsloom.platform.events import emit, subscribe, subscriptions
from opsloom.platform.jobs import run_jobs
from opsloom.platform.models import AuditEntry, EventDelivery, User

if TYPE_CHECKING:
    from collections.abc import Iterator

    from flask import Flask
    from flask.testing import FlaskClient

    from opsloom.platform.db import Database
    from tests.conftest import Member

T0 = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
PROBLEM = "application/problem+json"


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    return response.get_json()


class Flaky:
    """Fails while ``broken`` is set; counts calls."""

    def __init__(self) -> None:
        self.broken = True
        self.calls = 0

    def __call__(self, event: Any, ctx: Any) -> None:
        self.calls += 1
        if self.broken:
            raise ValueError(f"cannot handle {event.type}")


@pytest.fixture
def flaky(app: Flask) -> Iterator[Flaky]:
    handler = Flaky()
    subscribe("monitor.*", "tests.flaky")(handler)
    app.config["EVENT_MAX_ATTEMPTS"] = 1  # first failure is final: a dead letter at once
    yield handler
    subscriptions.remove("tests.flaky")


def emit_and_run(app: Flask, db: Database, workspace_id: int, event_type: str = "monitor.thing") -> None:
    with db.session_scope() as session:
        emit(session, event_type, payload={}, workspace_id=workspace_id)
    run_jobs(app, now=T0)


def delivery_ids(db: Database, workspace_id: int) -> list[int]:
    with db.session_scope() as session:
        stmt = select(EventDelivery.id).where(EventDelivery.workspace_id == workspace_id)
        return list(session.scalars(stmt.order_by(EventDelivery.id)))


def test_the_monitor_is_for_admins_only(client: FlaskClient, staff: Member) -> None:
    for url in ("/api/v1/jobs", "/api/v1/jobs/deliveries"):
        problem(client.get(url), 401)
        problem(client.get(url, headers=staff.headers), 403)
    problem(client.post("/api/v1/jobs/deliveries/1/retry", headers=staff.headers), 403)


def test_summary_counts_only_my_workspace(
    app: Flask, db: Database, client: FlaskClient, admin: Member, outsider: Member, flaky: Flaky
) -> None:
    emit_and_run(app, db, admin.workspace_id)
    emit_and_run(app, db, outsider.workspace_id)
    emit_and_run(app, db, outsider.workspace_id)
    with db.session_scope() as session:  # one event not yet relayed
        emit(session, "monitor.waiting", payload={}, workspace_id=admin.workspace_id)
    body = client.get("/api/v1/jobs", headers=admin.headers).get_json()
    assert body["deliveries"] == {"pending": 0, "running": 0, "retrying": 0, "done": 0, "dead": 1}
    assert body["outbox"] == {"pending": 1}
    assert body["queues"] is None  # installation-wide counts are for superusers
    other = client.get("/api/v1/jobs", headers=outsider.headers).get_json()
    assert other["deliveries"]["dead"] == 2
    assert other["outbox"] == {"pending": 0}


def test_superusers_see_queue_counts(app: Flask, db: Database, client: FlaskClient, admin: Member) -> None:
    with db.session_scope() as session:
        session.execute(update(User).where(User.id == admin.user_id).values(is_superuser=True))
    body = client.get("/api/v1/jobs", headers=admin.headers).get_json()
    assert set(body["queues"]) == {"events", "default"}
    assert body["queues"]["events"] == {"queued": 0, "started": 0, "failed": 0, "scheduled": 0, "deferred": 0}


def test_dead_letters_list_newest_first_and_paginated(
    app: Flask, db: Database, client: FlaskClient, admin: Member, outsider: Member, flaky: Flaky
) -> None:
    emit_and_run(app, db, admin.workspace_id, "monitor.first")
    emit_and_run(app, db, outsider.workspace_id, "monitor.foreign")
    emit_and_run(app, db, admin.workspace_id, "monitor.second")
    response = client.get("/api/v1/jobs/deliveries?status=dead&limit=1", headers=admin.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    page = response.get_json()
    (item,) = page["items"]
    assert item["event_type"] == "monitor.second"
    assert item["handler"] == "tests.flaky"
    assert item["status"] == "dead"
    assert item["attempts"] == 1
    assert "cannot handle monitor.second" in item["last_error"]
    assert page["next_cursor"]
    rest = client.get(
        f"/api/v1/jobs/deliveries?status=dead&limit=1&cursor={page['next_cursor']}", headers=admin.headers
    ).get_json()
    assert [i["event_type"] for i in rest["items"]] == ["monitor.first"]
    assert rest["next_cursor"] is None
    assert client.get("/api/v1/jobs/deliveries?status=done", headers=admin.headers).get_json()["items"] == []
    everything = client.get("/api/v1/jobs/deliveries", headers=admin.headers).get_json()["items"]
    assert [i["event_type"] for i in everything] == ["monitor.second", "monitor.first"]


def test_bad_list_queries_are_clear_errors(
    app: Flask, db: Database, client: FlaskClient, admin: Member, flaky: Flaky, snapshot: Any
) -> None:
    emit_and_run(app, db, admin.workspace_id)
    emit_and_run(app, db, admin.workspace_id)
    client.get("/api/v1/jobs", headers=admin.headers)  # the token's last use is now recorded
    before = snapshot()
    body = problem(client.get("/api/v1/jobs/deliveries?status=sleeping", headers=admin.headers), 422)
    assert "status" in body["errors"]
    body = problem(client.get("/api/v1/jobs/deliveries?colour=red", headers=admin.headers), 422)
    assert "colour" in body["errors"]
    body = problem(client.get("/api/v1/jobs/deliveries?limit=0", headers=admin.headers), 400)
    assert "limit" in body["errors"]
    problem(client.get("/api/v1/jobs/deliveries?cursor=forged", headers=admin.headers), 400)
    # a cursor of the dead list is refused by the done list
    cursor = client.get("/api/v1/jobs/deliveries?status=dead&limit=1", headers=admin.headers).get_json()
    problem(client.get(f"/api/v1/jobs/deliveries?status=done&cursor={cursor['next_cursor']}",
                       headers=admin.headers), 400)
    assert snapshot() == before


def test_retrying_a_dead_delivery_runs_it_again(
    app: Flask, db: Database, client: FlaskClient, admin: Member, flaky: Flaky
) -> None:
    emit_and_run(app, db, admin.workspace_id)
    (delivery_id,) = delivery_ids(db, admin.workspace_id)
    flaky.broken = False
    response = client.post(f"/api/v1/jobs/deliveries/{delivery_id}/retry", headers=admin.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["id"], body["status"], body["attempts"]) == (delivery_id, "pending", 0)
    with db.session_scope() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.object_type == "event_delivery"))
        assert (entry.action, entry.object_id, entry.actor_id) == ("retry", str(delivery_id), admin.user_id)
        assert entry.before["status"] == "dead"
        assert entry.after == {"status": "pending", "attempts": 0}
        assert entry.workspace_id == admin.workspace_id
    run_jobs(app)
    assert flaky.calls == 2
    with db.session_scope() as session:
        delivery = session.get(EventDelivery, delivery_id)
        assert (delivery.status, delivery.attempts) == ("done", 1)


def test_retry_refusals_change_nothing(
    app: Flask, db: Database, client: FlaskClient, admin: Member, outsider: Member, flaky: Flaky,
    snapshot: Any,
) -> None:
    emit_and_run(app, db, admin.workspace_id)
    emit_and_run(app, db, outsider.workspace_id)
    (mine,) = delivery_ids(db, admin.workspace_id)
    (foreign,) = delivery_ids(db, outsider.workspace_id)
    flaky.broken = False
    emit_and_run(app, db, admin.workspace_id)
    done = delivery_ids(db, admin.workspace_id)[-1]
    client.get("/api/v1/jobs", headers=admin.headers)  # the token's last use is now recorded
    before = snapshot()
    problem(client.post(f"/api/v1/jobs/deliveries/{foreign}/retry", headers=admin.headers), 404)
    problem(client.post("/api/v1/jobs/deliveries/999999/retry", headers=admin.headers), 404)
    body = problem(client.post(f"/api/v1/jobs/deliveries/{done}/retry", headers=admin.headers), 409)
    assert "not dead" in body["detail"]
    assert snapshot() == before
    # and the foreign one is invisible in lists too
    ids = [i["id"] for i in client.get("/api/v1/jobs/deliveries", headers=admin.headers).get_json()["items"]]
    assert foreign not in ids
    assert mine in ids
