"""Expression language: compiled opsloom vs pure-Python JSON Logic; ``to_sql`` vs Python and hand SQL.

``python -m bench expr [--records N] [--rows N] [--repeat N]``

1. **Rules in Python.** A realistic rule (ten conditions over a 30-field customer record,
   with dates as ISO text and a relation path ``customer.tier``) evaluated over
   ``--records`` records (default 100,000) by ``opsloom.platform.expr.compile`` and by every
   pure-Python JSON Logic package installed (json-logic-qubit, panzi-json-logic). All
   must agree on every record; the ratio against the fastest peer is printed (target >= 3x).
2. **Filters in the database.** The same kind of filter over ``--rows`` rows (default
   1,000,000) in a SQLite file in a temporary directory: ``to_sql`` (translation included)
   vs loading every row into Python and evaluating the compiled expression, and vs the
   condition hand-written in SQL (target <= 1.1x).
"""

from __future__ import annotations

import argparse
import importlib
import random
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    func,
    select,
    text,
)

from opsloom.platform.expr import compile as compile_expr
from opsloom.platform.expr import to_sql
from opsloom.platform.expr.sql import TableResolver
from opsloom.platform.expr.values import truthy

if TYPE_CHECKING:
    from collections.abc import Callable

TODAY = date(2024, 6, 1)
CONTEXT = {"_now": datetime(2024, 6, 1, 9, 0, tzinfo=UTC), "tz": "UTC"}

# Ten conditions, ordered so that most records reach most of them (no early short-circuit).
RULE: dict[str, Any] = {
    "and": [
        {">=": [{"var": "total_spent"}, 100]},
        {"in": [{"var": "level"}, ["normal", "silver", "gold", "vip"]]},
        {"!=": [{"var": "status"}, "blocked"]},
        {">=": [{"var": "last_order_date"}, "2023-01-01"]},
        {"<": [{"var": "complaints"}, 8]},
        {"or": [{"==": [{"var": "newsletter"}, True]}, {">": [{"var": "orders"}, 2]}]},
        {"in": [{"var": "customer.tier"}, ["A", "B", "C"]]},
        {"<=": [{"var": "age"}, 90]},
        {"!": [{"==": [{"var": "region"}, "test"]}]},
        {">": [{"+": [{"var": "score_a"}, {"var": "score_b"}]}, 20]},
    ]
}


def make_records(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    levels = ["normal", "silver", "gold", "vip", "trial"]
    records = []
    for i in range(count):
        record: dict[str, Any] = {
            "id": i,
            "name": f"customer {i}",
            "total_spent": rng.randint(0, 20_000),
            "level": rng.choice(levels),
            "status": rng.choice(["active", "active", "active", "blocked"]),
            "last_order_date": (TODAY - timedelta(days=rng.randint(0, 900))).isoformat(),
            "complaints": rng.randint(0, 10),
            "newsletter": rng.random() < 0.5,
            "orders": rng.randint(0, 10),
            "customer": {"tier": rng.choice("ABCD")},
            "age": rng.randint(18, 95),
            "region": rng.choice(["north", "south", "east", "west", "test"]),
            "score_a": rng.randint(0, 20),
            "score_b": rng.randint(0, 20),
        }
        for extra in range(30 - len(record)):
            record[f"extra_{extra}"] = rng.choice([None, "x", 1, 2.5, True])
        records.append(record)
    return records


def peers() -> dict[str, Callable[[Any, Any], Any]]:
    """The installed pure-Python JSON Logic packages (both install the module ``json_logic``)."""
    found: dict[str, Callable[[Any, Any], Any]] = {}
    try:
        qubit = importlib.import_module("json_logic")
        if hasattr(qubit, "jsonLogic"):
            found["json-logic-qubit"] = qubit.jsonLogic
    except Exception:  # not installed, or broken by the other package's files
        pass
    try:
        panzi = importlib.import_module("json_logic.apply")
        found["panzi-json-logic"] = panzi.apply
    except Exception:
        pass
    return found


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def bench_rules(count: int, repeat: int) -> None:
    records = make_records(count)
    compiled = compile_expr(RULE)
    ours_time, ours = timed(lambda: [truthy(compiled(r)) for r in records], repeat)
    print(f"rules: {count:,} records x 10 conditions, 30 fields")
    print(
        f"  opsloom compiled        {ours_time:8.3f} s   {count / ours_time:12,.0f} records/s   "
        f"({sum(ours):,} match)"
    )
    results = {}
    for name, apply in peers().items():
        peer_time, theirs = timed(lambda apply=apply: [truthy(apply(RULE, r)) for r in records], 1)
        agree = theirs == ours
        results[name] = peer_time
        print(
            f"  {name:<23} {peer_time:8.3f} s   {count / peer_time:12,.0f} records/s   "
            f"{'agrees' if agree else 'DISAGREES'}"
        )
    if results:
        fastest = min(results, key=results.__getitem__)
        print(
            f"  ratio: opsloom is {results[fastest] / ours_time:.1f}x faster than the fastest peer "
            f"({fastest}); "
            "target >= 3x"
        )
    else:
        print("  no peer JSON Logic package is installed (pip install json-logic-qubit panzi-json-logic)")


FILTER: dict[str, Any] = {
    "and": [
        {">": [{"var": "amount"}, 1000]},
        {"in": [{"var": "level"}, ["gold", "vip"]]},
        {">=": [{"var": "last_order"}, {"date_add": [{"today": []}, "-P180D"]}]},
        {"!=": [{"var": "status"}, "closed"]},
        {"or": [{">=": [{"var": "score"}, 50]}, {"is_empty": [{"var": "note"}]}]},
    ]
}
HAND_SQL = (
    "SELECT count(*) FROM customer WHERE amount > 1000 AND level IN ('gold', 'vip') "
    "AND last_order >= :since AND status <> 'closed' AND (score >= 50 OR note IS NULL OR note = '')"
)


def build_table(path: Path, rows: int) -> Any:
    engine = create_engine(f"sqlite:///{path}")
    metadata = MetaData()
    table = Table(
        "customer",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("amount", Integer),
        Column("level", String(10)),
        Column("last_order", Date),
        Column("status", String(10)),
        Column("score", Integer),
        Column("note", String(20)),
    )
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            text(
                "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < :rows) "
                "INSERT INTO customer (id, amount, level, last_order, status, score, note) "
                "SELECT x, CASE WHEN x % 17 = 0 THEN NULL ELSE (x * 7919) % 5000 END, "
                "CASE x % 5 WHEN 0 THEN 'gold' WHEN 1 THEN 'vip' WHEN 2 THEN 'silver' "
                "WHEN 3 THEN 'normal' ELSE NULL END, "
                "date('2024-06-01', '-' || ((x * 31) % 700) || ' days'), "
                "CASE WHEN x % 9 = 0 THEN 'closed' ELSE 'open' END, (x * 13) % 100, "
                "CASE WHEN x % 3 = 0 THEN NULL WHEN x % 3 = 1 THEN '' ELSE 'call back' END FROM n"
            ),
            {"rows": rows},
        )
    return engine, table


def bench_sql(rows: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        engine, table = build_table(Path(tmp) / "bench.db", rows)
        print(f"sql: {rows:,} rows in SQLite (built in {time.perf_counter() - start:.1f} s)")
        resolver = TableResolver(
            table,
            {
                "amount": "number",
                "level": "select",
                "last_order": "date",
                "status": "text",
                "score": "number",
                "note": "text",
            },
        )
        since = TODAY - timedelta(days=180)

        with engine.connect() as conn:

            def via_to_sql() -> int:
                condition = to_sql(FILTER, resolver, context=CONTEXT)  # translation is part of the cost
                return conn.execute(select(func.count()).select_from(table).where(condition)).scalar_one()

            def hand_written() -> int:
                return conn.execute(text(HAND_SQL), {"since": since.isoformat()}).scalar_one()

            def in_python() -> int:
                compiled = compile_expr(FILTER)
                result = conn.execute(select(table))
                return sum(1 for row in result.mappings() if truthy(compiled(dict(row), context=CONTEXT)))

            hand_written()  # warm the page cache once for both SQL variants
            # Interleaved, best of N each: a busy machine slows both alike instead of one.
            sql_times, hand_times = [], []
            for _ in range(max(repeat, 1)):
                elapsed, sql_count = timed(via_to_sql)
                sql_times.append(elapsed)
                elapsed, hand_count = timed(hand_written)
                hand_times.append(elapsed)
            sql_time, hand_time = min(sql_times), min(hand_times)
            translate_time, _ = timed(lambda: to_sql(FILTER, resolver, context=CONTEXT), 20)
            py_time, py_count = timed(in_python, 1)
    agree = (
        "agree" if sql_count == hand_count == py_count else f"DISAGREE ({sql_count}/{hand_count}/{py_count})"
    )
    print(f"  to_sql                  {sql_time:8.3f} s   ({sql_count:,} rows match; all three {agree})")
    print(f"  hand-written SQL        {hand_time:8.3f} s")
    print(f"  (to_sql's translation alone: {translate_time * 1e3:.2f} ms)")
    print(f"  load rows + evaluate    {py_time:8.3f} s")
    print(f"  ratio: to_sql / hand-written = {sql_time / hand_time:.2f}x (target <= 1.1x)")
    print(f"  ratio: Python / to_sql = {py_time / sql_time:.0f}x")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench expr", description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000, help="records for the rule benchmark")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows for the SQL benchmark")
    parser.add_argument("--repeat", type=int, default=5, help="best of N for the fast variants")
    args = parser.parse_args(argv)
    bench_rules(args.records, args.repeat)
    bench_sql(args.rows, args.repeat)
