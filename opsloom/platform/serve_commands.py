"""``opsloom serve`` and ``opsloom demo``: run the product on the embedded default or a configured database."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["register_commands"]

DEMO_WORKSPACE = "demo"


def _run(app: Flask, host: str, port: int) -> None:
    """Serve with werkzeug's threaded server (embedded mode); production runs gunicorn instead."""
    from werkzeug.serving import run_simple

    click.echo(f"opsloom is listening on http://{host}:{port}/  (Ctrl+C to stop)")
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
def serve(host: str, port: int) -> None:
    """Serve the web pages and the API (embedded jobs run in a thread unless OPSLOOM_REDIS_URL is set)."""
    from .cli import load_app

    _run(load_app(), host, port)


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--no-serve", is_flag=True, help="Prepare the instance and print the users, then exit.")
@click.option(
    "--instance",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("instance/demo"),
    show_default=True,
    help="Folder of the demo instance; it is wiped and created afresh.",
)
def demo(host: str, port: int, no_serve: bool, instance: Path) -> None:
    """A fresh demo instance: new SQLite database, an admin and a staff user (passwords printed), served."""
    from .auth import service as identity
    from .cli import load_app
    from .db import Database
    from .migrations import upgrade

    instance = instance.resolve()
    if instance.exists():
        shutil.rmtree(instance)
    instance.mkdir(parents=True)
    url = f"sqlite:///{instance / 'opsloom.db'}"
    database = Database(url)
    upgrade(database)
    database.dispose()

    app = load_app(INSTANCE_PATH=str(instance), DATABASE_URL=url)
    passwords = {"admin": secrets.token_urlsafe(9), "staff": secrets.token_urlsafe(9)}
    with app.extensions["opsloom.db"].session_scope() as session:
        workspace = identity.ensure_workspace(session, key=DEMO_WORKSPACE, name="Demo")
        admin = identity.create_user(session, username="admin", password=passwords["admin"],
                                     display_name="Demo Admin")
        admin.is_superuser = True
        identity.add_member(session, workspace, admin, role_keys=["admin"])
        staff = identity.create_user(session, username="staff", password=passwords["staff"],
                                     display_name="Demo Staff")
        identity.add_member(session, workspace, staff, role_keys=["staff"])

    click.echo(f"Demo instance in {instance}")
    click.echo(f"  admin  / {passwords['admin']}   (workspace administrator)")
    click.echo(f"  staff  / {passwords['staff']}   (staff member)")
    if not no_serve:
        _run(app, host, port)


def register_commands(group: click.Group) -> None:
    group.add_command(serve)
    group.add_command(demo)
