"""``python -m bench api_overhead``: an authenticated GET through the whole stack vs a bare Flask view.

Both answer the same JSON for the same app row of the same SQLite (or PostgreSQL) database,
called through the same WSGI test client, so the ratio is what the stack adds: bearer-token
authentication, request ids, workspace scoping, the session edge, marshmallow serialisation
and the security headers. Target: at most 2x.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import TYPE_CHECKING, Any

from flask import Flask, jsonify
from sqlalchemy import select

from bench._records import records_setup

if TYPE_CHECKING:
    from collections.abc import Callable


def _bare_app(url: str, workspace_id: int) -> Flask:
    """The hand-written limit: one Flask view, one SELECT, the same JSON."""
    from opsloom.platform.db import Database
    from opsloom.platform.models import App

    bare = Flask("bare")
    database = Database(url)

    @bare.get("/apps/<key>")
    def get_app(key: str) -> Any:
        with database.sessions() as session:
            row = session.scalars(select(App).where(App.workspace_id == workspace_id, App.key == key)).one()
            return jsonify({"key": row.key, "label": row.label, "description": row.description, "icon": row.icon,
                            "created_at": row.created_at.isoformat(), "archived_at": None})

    return bare


def _time_both(ours: Callable[[], Any], peer: Callable[[], Any], n: int) -> tuple[float, float]:
    """Median seconds per call of each, the two alternating call by call (after a warm-up).

    Alternating makes both see the same machine: a busy neighbour slows both alike.
    """
    for _ in range(min(n, 200)):
        ours()
        peer()
    samples: tuple[list[float], list[float]] = ([], [])
    clock = time.perf_counter
    for _ in range(n):
        for call, kept in ((ours, samples[0]), (peer, samples[1])):
            start = clock()
            call()
            kept.append(clock() - start)
    return statistics.median(samples[0]), statistics.median(samples[1])


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench api_overhead")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temp folder")
    args = parser.parse_args(argv)

    # a throwaway schema on PostgreSQL (dropped afterwards), a temporary file on SQLite
    with records_setup(args.database_url) as setup:
        full = setup.app.test_client()
        bare = _bare_app(setup.url, setup.workspace_id).test_client()
        full_response = full.get("/api/v1/apps/crm", headers=setup.headers)
        assert full_response.status_code == 200, full_response.get_data(as_text=True)
        assert bare.get("/apps/crm").status_code == 200
        stack, limit = _time_both(
            lambda: full.get("/api/v1/apps/crm", headers=setup.headers), lambda: bare.get("/apps/crm"), args.requests
        )
    ratio = stack / limit
    print(f"api_overhead: whole stack {stack * 1e6:8.1f} us/request, bare Flask view {limit * 1e6:8.1f} us/request")
    print(f"api_overhead: ratio {ratio:.2f}x (target <= 2.00x) {'OK' if ratio <= 2 else 'MISSED'}")
