"""``python -m bench records_list``: a filtered, sorted first page over N records with a role scope vs hand-written SQL.

The staff role may read only its own customers (``own``: created by them or ``owner`` is
them). ``RecordService.query`` builds the statement from the filter expression, the sort
and the scope, runs it and turns the rows into presented JSON; the peer runs the same SQL
text (written by hand) and builds plain dicts. Both read the same first page of 50; the
EXPLAIN of the statement is printed so the index use can be checked. Target: at most 1.3x.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from sqlalchemy import text

from bench._records import records_setup, sample_rows, service_for

FILTER = {"==": [{"var": "level"}, "gold"]}
SORT = "-spent"
LIMIT = 50


def _fill(setup: Any, total: int, owners: tuple[int, ...]) -> Any:
    """Insert ``total`` converted rows straight into the table (the set-up is not what is measured)."""
    from opsloom.form_engine.values import read_input

    database = setup.app.extensions["opsloom.db"]
    with database.session_scope() as session:
        service = service_for(setup, session)
        model = service.model("customer")
        ctx = service.ctx
    chunk = 20_000
    for start in range(0, total, chunk):
        rows = []
        for i, raw in enumerate(sample_rows(min(chunk, total - start), start=start, owners=owners)):
            values = dict(read_input(model, {**raw, "owner": None}, ctx).values)
            values["owner"] = raw["owner"]
            creator = owners[(start + i) % len(owners)]
            values.update(_version=1, _created_at=service.now, _created_by=creator, _updated_at=service.now,
                          _updated_by=creator)
            rows.append(values)
        with database.engine.begin() as conn:
            conn.execute(model.table.insert(), rows)
    with database.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    return model


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench records_list")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default: SQLite in a temp folder)")
    args = parser.parse_args(argv)

    with records_setup(args.database_url, extra_users=9) as setup, setup.app.app_context():
        owners = tuple(range(1, 11))
        model = _fill(setup, args.records, owners)
        table = model.table.name
        database = setup.app.extensions["opsloom.db"]
        staff_id = 2
        with database.session_scope() as session:
            from opsloom.platform.auth import service as identity
            from opsloom.platform.models import User

            admin_actor = identity.actor_for(session, session.get(User, setup.user_id), setup.workspace_id, via="cli")
            service = service_for(setup, session, actor=admin_actor)
            from opsloom.form_engine import permissions

            permissions.set_grant(session, admin_actor, service.app, "staff", "customer", {"read": "own"},
                                  now=service.now)
        with database.session_scope() as session:
            staff = identity.actor_for(session, session.get(User, staff_id), setup.workspace_id, via="cli")

        # empty values last: SQLite puts NULLs last in a descending order by itself; PostgreSQL
        # puts them first, and `NULLS LAST` would sort every gold row (no index is in that
        # order), so the values come from `IS NOT NULL` (and, were the page short, the empty
        # ones from a second statement): what the service runs too
        values_only = "" if database.dialect == "sqlite" else f'AND "{table}".spent IS NOT NULL '
        hand = text(
            f'SELECT * FROM "{table}" WHERE "{table}"._deleted_at IS NULL '
            f'AND ("{table}"._created_by = :u OR "{table}".owner = :u) AND "{table}".level = :level '
            f"{values_only}"
            f'ORDER BY "{table}".spent DESC, "{table}".id DESC '
            f"LIMIT {LIMIT + 1}"
        )

        # what the records API does: the app and its tables come from the process's cache
        # (checked against the workspace's definitions_version), not from a query per page
        with database.session_scope() as session:
            from opsloom.form_engine.api import AppRef, TableRef
            from opsloom.form_engine.service import RecordService

            found = service_for(setup, session, actor=staff)
            app_ref = AppRef(found.app.id, found.app.key, found.app.workspace_id)
            tables = {key: TableRef(row.id, row.entity_key, row.version, row.table_name)
                      for key, row in found._tables().items()}

        def ours() -> list[dict[str, Any]]:
            with database.session_scope() as session:
                page = RecordService(session, staff, app_ref, entity_rows=tables).query(  # type: ignore[arg-type]
                    "customer", filter=FILTER, sort=SORT, limit=LIMIT, secret="bench")
                return page.items

        def peer() -> list[dict[str, Any]]:
            with database.engine.connect() as conn:
                rows = conn.execute(hand, {"u": staff_id, "level": "gold"}).mappings().all()
                return [dict(r) for r in rows[:LIMIT]]

        assert [r["id"] for r in ours()] == [r["id"] for r in peer()], "the two queries disagree"
        for call in (ours, peer):
            for _ in range(20):
                call()
        # the two alternate call by call, so both see the same machine (a busy neighbour slows
        # both alike); the median of each one's calls ignores the odd stall of either
        samples: dict[str, list[float]] = {"ours": [], "peer": []}
        clock = time.perf_counter
        for _ in range(args.rounds):
            for name, call in (("ours", ours), ("peer", peer)):
                start = clock()
                call()
                samples[name].append(clock() - start)
        explain = "EXPLAIN QUERY PLAN " if database.dialect == "sqlite" else "EXPLAIN "
        with database.engine.connect() as conn:
            plan = conn.execute(text(explain + hand.text), {"u": staff_id, "level": "gold"}).all()
            typical = conn.execute(text(
                f'{explain}SELECT * FROM "{table}" WHERE _deleted_at IS NULL AND level = :level '
                f"ORDER BY id DESC LIMIT {LIMIT + 1}"), {"level": "gold"}).all()
    stack, limit = statistics.median(samples["ours"]), statistics.median(samples["peer"])
    print("records_list: EXPLAIN (scoped, sorted by -spent):")
    for row in plan:
        print("   ", " ".join(str(x) for x in row[-1:]) if database.dialect == "sqlite" else row[0])
    print("records_list: EXPLAIN (typical list: filter, newest first):")
    for row in typical:
        print("   ", " ".join(str(x) for x in row[-1:]) if database.dialect == "sqlite" else row[0])
    print(f"records_list: filter {json.dumps(FILTER)} sort {SORT} scope own, {args.records} records")
    print(f"records_list: RecordService.query {stack * 1e3:8.2f} ms/page, hand-written SQL {limit * 1e3:8.2f} ms/page")
    print(f"records_list: ratio {stack / limit:.2f}x (target <= 1.30x) {'OK' if stack / limit <= 1.3 else 'MISSED'}")
