"""CLI glue: ``opsloom worker [--burst] [--queues ...]`` and ``opsloom scheduler tick``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from click import Group

__all__ = ["register_commands"]


def register_commands(cli: Group) -> None:
    cli.add_command(worker)
    cli.add_command(scheduler)


@click.command()
@click.option("--burst", is_flag=True, help="Dispatch and run everything due, then exit.")
@click.option(
    "--queues", "-q", multiple=True, type=click.Choice(["events", "default"]),
    help="Only these queues (repeat the option); default: all, events first.",
)
def worker(burst: bool, queues: tuple[str, ...]) -> None:
    """Run jobs and the scheduler (which relays outbox events); several may run at once."""
    from opsloom.platform.cli import load_app

    from .runtime import get_runtime
    from .worker import run_worker

    app = load_app()
    runtime = get_runtime(app)
    if not runtime.redis_url and not burst:
        click.echo(
            "Note: OPSLOOM_REDIS_URL is not set, so this worker has its own in-memory queue; "
            "the web process runs its jobs in a thread. Set OPSLOOM_REDIS_URL for separate workers.",
            err=True,
        )
    try:
        ran = run_worker(app, burst=burst, queues=list(queues) or None)
    finally:
        app.extensions["opsloom.db"].dispose()
    click.echo(f"Worker stopped after {ran} job(s).")


@click.group()
def scheduler() -> None:
    """Periodic tasks."""


@scheduler.command("tick")
def scheduler_tick() -> None:
    """Run every periodic task whose slot is due and print what ran."""
    from opsloom.platform.cli import load_app

    from .runtime import get_runtime
    from .scheduler import tick
    from .worker import drain

    app = load_app()
    try:
        results = tick(app, worker="cli")
        if not get_runtime(app).redis_url:
            # embedded mode: the queue lives in this process, so run what the tick enqueued now
            ran = drain(app)
            if ran:
                click.echo(f"Ran {ran} job(s) in this process (no OPSLOOM_REDIS_URL).")
    finally:
        app.extensions["opsloom.db"].dispose()
    if not results:
        click.echo("Nothing due: every task's current slot has already run.")
    for result in results:
        line = f"{result.task} @ {result.slot.isoformat()}: {result.outcome}"
        click.echo(f"{line} ({result.result})" if result.result else line)
