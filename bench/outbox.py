"""Outbox delivery vs bare RQ: N events through ``emit`` + dispatcher + one worker, vs N no-op RQ jobs.

``python -m bench outbox [--events N] [--database URL] [--redis URL] [--delivery-batch N]``

* outbox: each event is written by ``emit`` in its own committed transaction (as a data
  change would), then one worker (``run_jobs``: the dispatcher plus an RQ worker) delivers
  every event to a no-op handler, with a delivery row per event marked ``done``.
* peer: the same number of no-op jobs enqueued one by one straight into RQ and drained by
  one RQ ``SimpleWorker``.

Runs on PostgreSQL and Redis (``OPSLOOM_BENCH_DATABASE_URL``, default the local test
server, in a throwaway schema; ``OPSLOOM_BENCH_REDIS_URL``, default db 14, under a fresh
key namespace that is deleted afterwards). Prints both throughputs and the ratio (target
>= 0.5x). The dispatcher claims events in batches and a delivery job handles a batch of
deliveries; that batching is the design, and the job counts are printed alongside.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
import uuid
from typing import Any

DEFAULT_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"


def noop_job(n: int) -> None:
    """The peer's job: nothing at all."""


def _noop_handler(event: Any, ctx: Any) -> None:
    """The outbox's handler: nothing at all."""


def _schema_url(url: str, schema: str) -> str:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def _run_outbox(app: Any, events: int) -> dict[str, float]:
    from sqlalchemy import func, select

    from opsloom.platform.db import get_database
    from opsloom.platform.events import emit
    from opsloom.platform.jobs import run_jobs
    from opsloom.platform.models import EventDelivery

    database = get_database(app)
    start = time.perf_counter()
    for n in range(events):
        with database.session_scope() as session:
            emit(session, "bench.happened", payload={"n": n}, workspace_id=1)
    written = time.perf_counter()
    jobs = run_jobs(app, max_rounds=10_000)
    delivered = time.perf_counter()
    with database.session_scope() as session:
        done = session.scalar(select(func.count()).where(EventDelivery.status == "done"))
    if done != events:
        raise SystemExit(f"outbox run delivered {done} of {events} events")
    return {"write": written - start, "deliver": delivered - written, "total": delivered - start,
            "jobs": jobs}


def _run_rq(connection: Any, queue_name: str, events: int) -> dict[str, float]:
    from rq import Queue, SimpleWorker

    queue = Queue(queue_name, connection=connection)
    start = time.perf_counter()
    for n in range(events):
        queue.enqueue(noop_job, n, result_ttl=0)
    enqueued = time.perf_counter()
    worker = SimpleWorker([queue], connection=connection)
    worker.work(burst=True, logging_level="WARNING")
    drained = time.perf_counter()
    if queue.count:
        raise SystemExit(f"RQ peer left {queue.count} jobs queued")
    return {"write": enqueued - start, "deliver": drained - enqueued, "total": drained - start,
            "jobs": events}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench outbox", description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="events (and peer jobs); default 20000")
    parser.add_argument("--database", default=os.environ.get("OPSLOOM_BENCH_DATABASE_URL", DEFAULT_DATABASE))
    parser.add_argument("--redis", default=os.environ.get("OPSLOOM_BENCH_REDIS_URL", DEFAULT_REDIS))
    parser.add_argument("--delivery-batch", type=int, default=None,
                        help="deliveries per job (default 250; 1 = one job per event)")
    args = parser.parse_args(argv)

    import redis
    from sqlalchemy import create_engine, text

    from opsloom import create_app
    from opsloom.platform.db import Database
    from opsloom.platform.events import subscribe, subscriptions
    from opsloom.platform.migrations import upgrade

    logging.getLogger("opsloom").setLevel(logging.WARNING)
    namespace = f"bench{uuid.uuid4().hex[:8]}"
    connection = redis.Redis.from_url(args.redis)
    postgres = args.database.startswith("postgresql")
    admin_engine = create_engine(_schema_url(args.database, "public")) if postgres else None
    url = args.database
    if admin_engine is not None:
        with admin_engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{namespace}"'))
        url = _schema_url(args.database, namespace)
    instance = tempfile.mkdtemp(prefix="opsloom-bench-")
    app = None
    try:
        database = Database(url)
        upgrade(database)
        database.dispose()
        app = create_app({
            "DATABASE_URL": url, "REDIS_URL": args.redis, "JOBS_MODE": "external",
            "JOBS_NAMESPACE": namespace, "INSTANCE_PATH": instance, "SECRET_KEY": "bench",
            "LOAD_ENTRY_POINTS": False, "EVENT_DELIVERY_BATCH": args.delivery_batch,
        })
        subscribe("bench.*", "bench.noop")(_noop_handler)
        print(f"outbox benchmark: {args.events} events; database {app.extensions['opsloom.db'].dialect}, "
              f"redis {args.redis}")
        outbox = _run_outbox(app, args.events)
        peer = _run_rq(connection, f"{namespace}.peer", args.events)
    finally:
        subscriptions.remove("bench.noop")
        if app is not None:
            app.extensions["opsloom.db"].dispose()
        keys = list(connection.scan_iter(f"*{namespace}*", count=1000))
        if keys:
            connection.delete(*keys)
        if admin_engine is not None:
            with admin_engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{namespace}" CASCADE'))
            admin_engine.dispose()

    def rate(seconds: float) -> float:
        return args.events / seconds if seconds else float("inf")

    print(f"{'':28}{'write/enqueue':>16}{'deliver/drain':>16}{'end to end':>14}{'jobs':>8}")
    for label, run in (("outbox (emit + dispatch)", outbox), ("bare RQ (enqueue + worker)", peer)):
        print(f"{label:28}{rate(run['write']):>12.0f} /s{rate(run['deliver']):>12.0f} /s"
              f"{rate(run['total']):>10.0f} /s{int(run['jobs']):>8}")
    ratio = rate(outbox["total"]) / rate(peer["total"])
    verdict = "ok" if ratio >= 0.5 else "BELOW TARGET"
    print(f"outbox / bare RQ throughput: {ratio:.2f}x (target >= 0.5x: {verdict})")
