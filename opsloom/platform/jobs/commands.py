"""CLI glue: ``opsloom worker [--burst] [--queues ...]``, ``opsloom scheduler tick|list|run TASK``."""

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


@scheduler.command("list")
def scheduler_list() -> None:
    """List the periodic tasks and when they run."""
    from opsloom.platform.cli import load_app

    from .scheduler import _ensure_builtin_tasks, tasks

    app = load_app()  # plugins register their tasks while the app is made
    app.extensions["opsloom.db"].dispose()
    _ensure_builtin_tasks()
    for task in sorted(tasks, key=lambda t: t.name):
        when = f"every {task.every:g}s" if task.every is not None else f"cron {task.cron} (UTC)"
        click.echo(f"{task.name}: {when}{'' if task.inline else ', as a job'}")


@scheduler.command("run")
@click.argument("task")
def scheduler_run(task: str) -> None:
    """Run periodic task TASK now, in this process, outside its schedule."""
    from opsloom.platform.cli import fail, load_app

    from .scheduler import run_now, tasks

    app = load_app()
    try:
        result = run_now(app, task)
    except KeyError:
        names = ", ".join(sorted(t.name for t in tasks))
        fail(f"There is no periodic task {task!r} (the tasks: {names}).")
        return
    finally:
        app.extensions["opsloom.db"].dispose()
    line = f"{result.task}: {result.outcome}"
    click.echo(f"{line} ({result.result})" if result.result else line)
    if result.outcome == "failed":
        raise SystemExit(1)
