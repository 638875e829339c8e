"""``python -m bench api_overhead``: an authenticated GET through the whole stack vs a bare Flask view.

Both answer the same JSON for the same app row of the same SQLite (or PostgreSQL) database,
called through the same WSGI test client, so the ratio is what the stack adds: bearer-token
authentication, request ids, workspace scoping, the session edge, marshmallow serialisation
and the security headers. Target: at most 2x.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, jsonify
from sqlalchemy import select

if TYPE_CHECKING:
    from collections.abc import Callable


def _setup(database_url: str | None, folder: Path) -> tuple[Flask, dict[str, str], str]:
    from opsloom import create_app
    from opsloom.platform.auth import service as identity
    from opsloom.platform.db import Database
    from opsloom.platform.definitions import service as definitions
    from opsloom.platform.migrations import upgrade

    url = database_url or f"sqlite:///{folder / 'bench.db'}"
    database = Database(url)
    upgrade(database)
    database.dispose()
    app = create_app(
        {"DATABASE_URL": url, "INSTANCE_PATH": str(folder), "SECRET_KEY": "bench", "JOBS_MODE": "off",
         "LOAD_ENTRY_POINTS": False}
    )
    with app.extensions["opsloom.db"].session_scope() as session:
        workspace = identity.ensure_workspace(session, key="bench", name="Bench")
        user = identity.create_user(session, username="bench", password="bench-password")
        identity.add_member(session, workspace, user, role_keys=["admin"])
        actor = identity.actor_for(session, user, workspace, via="cli", request_id=None, address=None)
        definitions.create_app_(session, key="crm", label={"en": "CRM", "zh": "客户"}, description="", actor=actor,
                                now=None)
        _row, token = identity.issue_token(session, user=user, workspace=workspace, name="bench")
    return app, {"Authorization": f"Bearer {token}"}, url


def _bare_app(url: str) -> Flask:
    """The hand-written limit: one Flask view, one SELECT, the same JSON."""
    from opsloom.platform.db import Database
    from opsloom.platform.models import App

    bare = Flask("bare")
    database = Database(url)

    @bare.get("/apps/<key>")
    def get_app(key: str) -> Any:
        with database.sessions() as session:
            row = session.scalars(select(App).where(App.workspace_id == 1, App.key == key)).one()
            return jsonify({"key": row.key, "label": row.label, "description": row.description, "icon": row.icon,
                            "created_at": row.created_at.isoformat(), "archived_at": None})

    return bare


def _time(call: Callable[[], Any], n: int, rounds: int = 5) -> float:
    """Median seconds per call over ``rounds`` runs of ``n`` calls (after a warm-up)."""
    for _ in range(min(n, 200)):
        call()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n):
            call()
        samples.append((time.perf_counter() - start) / n)
    return statistics.median(samples)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench api_overhead")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temp folder")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        app, headers, url = _setup(args.database_url, Path(tmp))
        full = app.test_client()
        bare = _bare_app(url).test_client()
        full_response = full.get("/api/v1/apps/crm", headers=headers)
        assert full_response.status_code == 200, full_response.get_data(as_text=True)
        assert bare.get("/apps/crm").status_code == 200

        stack = _time(lambda: full.get("/api/v1/apps/crm", headers=headers), args.requests)
        limit = _time(lambda: bare.get("/apps/crm"), args.requests)
    ratio = stack / limit
    print(f"api_overhead: whole stack {stack * 1e6:8.1f} us/request, bare Flask view {limit * 1e6:8.1f} us/request")
    print(f"api_overhead: ratio {ratio:.2f}x (target <= 2.00x) {'OK' if ratio <= 2 else 'MISSED'}")
