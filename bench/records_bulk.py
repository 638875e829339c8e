"""``python -m bench records_bulk``: N records through ``RecordService.bulk_create`` vs Core ``executemany``.

Both write the same stored rows into the same kind of table (a fresh published entity
each, so the unique phone index is the same): the service validates and converts every
row, numbers and computes, and writes an audit entry and a ``record.created`` event per
record in the same transaction; the peer inserts the already-converted rows with one
``executemany`` per chunk. The two take turns chunk by chunk. Target: at least 0.5x the
peer's throughput.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench._records import records_setup, sample_rows, service_for

CHUNK = 5000


def _stored(service: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from opsloom.form_engine.values import read_input

    model = service.model("customer")
    out = []
    for raw in rows:
        found = read_input(model, raw, service.ctx)
        values = dict(found.values)
        values.update(_version=1, _created_at=service.now, _created_by=1, _updated_at=service.now, _updated_by=1)
        out.append(values)
    return out


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench records_bulk")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default: SQLite in a temp folder)")
    args = parser.parse_args(argv)
    rows = sample_rows(args.records)

    # the two write chunk by chunk in turn, each into its own fresh table, so both see the same
    # machine (a busy neighbour or the database's own background work slows both alike)
    with records_setup(args.database_url) as mine, records_setup(args.database_url) as theirs:
        with theirs.app.app_context():
            peer_db = theirs.app.extensions["opsloom.db"]
            with peer_db.session_scope() as session:
                service = service_for(theirs, session)
                table = service.model("customer").table
                stored = _stored(service, rows)  # conversion is not the peer's cost: it gets ready rows
        ours = peer = 0.0
        for offset in range(0, len(rows), CHUNK):
            with mine.app.app_context():
                database = mine.app.extensions["opsloom.db"]
                start = time.perf_counter()
                with database.session_scope() as session:
                    result = service_for(mine, session).bulk_create("customer", rows[offset:offset + CHUNK])
                ours += time.perf_counter() - start
                assert not result["errors"], list(result["errors"].items())[:3]
            with theirs.app.app_context():
                start = time.perf_counter()
                with peer_db.engine.begin() as conn:
                    conn.execute(table.insert(), stored[offset:offset + CHUNK])
                peer += time.perf_counter() - start

    ratio = (args.records / ours) / (args.records / peer)
    print(f"records_bulk: RecordService.bulk_create {args.records / ours:10.0f} records/s")
    print(f"records_bulk: Core executemany          {args.records / peer:10.0f} records/s")
    print(f"records_bulk: ratio {ratio:.2f}x of the peer's throughput (target >= 0.50x) "
          f"{'OK' if ratio >= 0.5 else 'MISSED'}")
