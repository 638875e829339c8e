"""``python -m bench import``: a 100,000-row CSV import, its peak memory and its rows per second.

The CSV (UTF-8 with BOM, as Excel writes it; a few deliberately bad rows) is read, mapped
by its headers, converted cell by cell with each field type's ``parse_text`` and written
through ``RecordService`` in batches that commit as they go (``skip_invalid`` mode, what a
background import does), with an error file for the bad rows. Prints the process's peak
resident memory (target: under 200 MB) and the throughput.
"""

from __future__ import annotations

import argparse
import csv
import resource
import time
from pathlib import Path
from typing import Any

from bench._records import records_setup, sample_rows, service_for

HEADERS = ["name", "phone", "level", "city", "spent"]


def _write_csv(path: Path, rows: int) -> None:
    """The file as a user would upload it, written in chunks (the generator is not what is measured)."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADERS)
        for start in range(0, rows, 10_000):
            for i, row in enumerate(sample_rows(min(10_000, rows - start), start=start), start=start):
                level = "platinum" if i % 10_000 == 9_999 else row["level"]  # one bad row in every 10,000
                writer.writerow([row["name"], row["phone"], level, row["city"], row["spent"]])


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench import")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default: SQLite in a temp folder)")
    args = parser.parse_args(argv)

    from opsloom.form_engine.import_service import ErrorFile, ImportService, parse_options
    from opsloom.form_engine.imports import read_sheet

    with records_setup(args.database_url) as setup, setup.app.app_context():
        upload = Path(setup.app.config["INSTANCE_PATH"]) / "customers.csv"
        _write_csv(upload, args.rows)
        database = setup.app.extensions["opsloom.db"]
        before = _peak_mb()
        start = time.perf_counter()
        data = upload.read_bytes()
        sheet = read_sheet(data, "customers.csv")
        del data  # the import keeps the parsed rows, not the upload
        session = database.sessions()
        try:
            service = ImportService(service_for(setup, session))
            folder = Path(setup.app.config["IMPORT_FOLDER"])
            folder.mkdir(parents=True, exist_ok=True)
            errors = ErrorFile(folder / "bench-errors.csv", sheet.columns)

            def commit(_outcome: Any) -> None:
                session.commit()

            outcome = service.run("customer", sheet, parse_options({"mode": "skip_invalid"}), error_file=errors,
                                  on_batch=commit)
            session.commit()
            errors.close()
        finally:
            session.close()
        elapsed = time.perf_counter() - start
    peak = _peak_mb()
    print(f"import: {args.rows} rows in {elapsed:.1f} s = {args.rows / elapsed:,.0f} rows/s "
          f"(created {outcome.created}, failed {outcome.failed})")
    print(f"import: peak resident memory {peak:.0f} MB (before the import {before:.0f} MB; "
          f"target < 200 MB) {'OK' if peak < 200 else 'MISSED'}")
