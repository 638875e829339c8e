"""``python -m bench records_create``: one ``POST`` of a record through the whole API vs a minimal Flask view.

Both run in the same process through the WSGI test client against the same kind of
database and table: the stack authenticates the bearer token, resolves app and entity,
validates and converts the input, checks the unique phone, writes the row, its audit
entry and its ``record.created`` event, and answers the record as JSON; the minimal view
inserts the same converted row with Core and answers its id. Target: at most 2x the time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from itertools import count
from typing import Any

from flask import Flask, jsonify

from bench._records import records_setup, sample_rows, service_for


def _bare(url: str, table: Any, stored: dict[str, Any]) -> Flask:
    from opsloom.platform.db import Database

    bare = Flask("bare")
    database = Database(url)
    numbers = count(10_000_000)

    @bare.post("/records")
    def create() -> Any:
        row = {**stored, "phone": f"15{next(numbers):09d}"}
        with database.engine.begin() as conn:
            record_id = conn.execute(table.insert().returning(table.c.id), row).scalar_one()
        return jsonify({"id": record_id}), 201

    return bare


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench records_create")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default: SQLite in a temp folder)")
    args = parser.parse_args(argv)
    template = sample_rows(1)[0]

    with records_setup(args.database_url) as setup:
        with setup.app.app_context(), setup.app.extensions["opsloom.db"].session_scope() as session:
            service = service_for(setup, session)
            model = service.model("customer")
            from opsloom.form_engine.values import read_input

            stored = dict(read_input(model, template, service.ctx).values)
            stored.update(_version=1, _created_at=service.now, _created_by=1, _updated_at=service.now,
                          _updated_by=1)
            table = model.table
        full = setup.app.test_client()
        bare = _bare(setup.url, table, stored).test_client()
        phones = count(20_000_000)

        def ours() -> None:
            body = {**template, "phone": f"13{next(phones):09d}"}
            response = full.post("/api/v1/apps/crm/records/customer", json=body, headers=setup.headers)
            assert response.status_code == 201, response.get_json()

        def peer() -> None:
            assert bare.post("/records").status_code == 201

        for call in (ours, peer):
            for _ in range(50):
                call()
        # the two alternate call by call, so both see the same machine (a busy neighbour slows
        # both alike); the median of each one's calls ignores the odd stall of either
        samples: dict[str, list[float]] = {"ours": [], "peer": []}
        clock = time.perf_counter
        for _ in range(args.requests):
            for name, call in (("ours", ours), ("peer", peer)):
                start = clock()
                call()
                samples[name].append(clock() - start)
    stack, limit = statistics.median(samples["ours"]), statistics.median(samples["peer"])
    ratio = stack / limit
    print(f"records_create: whole API {stack * 1e6:8.1f} us/record, minimal Core view {limit * 1e6:8.1f} us/record")
    print(f"records_create: ratio {ratio:.2f}x (target <= 2.00x) {'OK' if ratio <= 2 else 'MISSED'}")
