"""CLI glue: ``opsloom app import FILE`` and ``opsloom app export APP`` (app packages).

Each command is one transaction (``session_scope``): an import that fails anywhere writes
nothing. Errors print one line, then one line per JSON pointer, and exit non-zero.
"""

from __future__ import annotations

import json
import sys
from typing import IO, TYPE_CHECKING, Any

import click
from sqlalchemy import select

from opsloom.platform.actor import Actor
from opsloom.platform.errors import NotFound, OpsloomError

if TYPE_CHECKING:
    from click import Group
    from sqlalchemy.orm import Session

__all__ = ["register_commands"]


def register_commands(cli: Group) -> None:
    cli.add_command(app_group)


def _exit_with(exc: OpsloomError) -> None:
    click.echo(f"Error: {exc.detail}", err=True)
    for where, message in exc.errors.items():
        click.echo(f"  {where}: {message}", err=True)
    sys.exit(1)


def _cli_actor(session: Session, workspace_key: str | None) -> Actor:
    """The CLI acts as the system, administering one workspace (``--workspace``, or the only one)."""
    from opsloom.platform.models import Workspace

    if workspace_key:
        workspace = session.scalar(select(Workspace).where(Workspace.key == workspace_key))
        if workspace is None:
            raise NotFound(f"There is no workspace {workspace_key!r}.")
    else:
        workspaces = list(session.scalars(select(Workspace).order_by(Workspace.key).limit(11)))
        if len(workspaces) != 1:
            keys = ", ".join(w.key for w in workspaces[:10]) or "none yet; run `opsloom init` first"
            raise NotFound(f"Say which workspace with --workspace KEY (workspaces: {keys}).")
        workspace = workspaces[0]
    return Actor(
        user_id=None,
        username="cli",
        display_name="opsloom CLI",
        workspace_id=workspace.id,
        is_admin=True,
        via="cli",
    )


@click.group("app")
def app_group() -> None:
    """App packages: move an app's definitions as one JSON document."""


@app_group.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option(
    "--workspace", "workspace_key", metavar="KEY", help="Target workspace (needed when there are several)."
)
def import_command(file: IO[str], workspace_key: str | None) -> None:
    """Import the app package FILE ('-' for stdin): all or nothing, and importing twice changes nothing."""
    from opsloom.platform.cli import load_app
    from opsloom.platform.db import utcnow
    from opsloom.platform.plugin_host import get_plugin_host

    from .packages import import_package

    try:
        package: Any = json.load(file)
    except (ValueError, UnicodeDecodeError) as exc:
        click.echo(f"Error: {file.name} is not valid JSON: {exc}", err=True)
        sys.exit(1)
    app = load_app()
    database = app.extensions["opsloom.db"]
    try:
        with database.session_scope() as session:
            actor = _cli_actor(session, workspace_key)
            report = import_package(
                session,
                package=package,
                actor=actor,
                now=utcnow(),
                registries=get_plugin_host(app).registries,
            )
    except OpsloomError as exc:
        _exit_with(exc)
        return
    finally:
        database.dispose()
    click.echo(f"{'Created' if report['created'] else 'Updated'} app {report['app']}.")
    for entry in report["published"]:
        click.echo(f"  published {entry['kind']} {entry['key']} version {entry['version']}")
        for line in entry.get("report") or ():
            click.echo(f"    {line}")
    for entry in report["drafts"]:
        click.echo(f"  saved the draft of {entry['kind']} {entry['key']}")
    if report["unchanged"]:
        click.echo(f"  {len(report['unchanged'])} definition(s) unchanged")
    for part in report["ignored"]:
        click.echo(f"  ignored {part!r}: nothing imports it yet")


@app_group.command("export")
@click.argument("app_key", metavar="APP")
@click.option(
    "--workspace", "workspace_key", metavar="KEY", help="The app's workspace (needed when there are several)."
)
@click.option(
    "-o",
    "--output",
    type=click.File("w", encoding="utf-8", atomic=True),
    default="-",
    help="Write to this file instead of stdout.",
)
@click.option("--drafts", is_flag=True, help="Include drafts (as version 'draft').")
def export_command(app_key: str, workspace_key: str | None, output: IO[str], drafts: bool) -> None:
    """Export app APP as a package (JSON) to stdout or --output FILE."""
    from opsloom.platform.cli import load_app
    from opsloom.platform.plugin_host import get_plugin_host

    from .packages import export_app
    from .service import get_app

    app = load_app()
    database = app.extensions["opsloom.db"]
    try:
        with database.session_scope() as session:
            actor = _cli_actor(session, workspace_key)
            package = export_app(
                session,
                app=get_app(session, actor, app_key),
                registries=get_plugin_host(app).registries,
                include_drafts=drafts,
            )
    except OpsloomError as exc:
        _exit_with(exc)
        return
    finally:
        database.dispose()
    output.write(json.dumps(package, ensure_ascii=False, indent=2) + "\n")
    if output is not sys.stdout and getattr(output, "name", "-") != "<stdout>":
        click.echo(
            f"Exported app {app_key} ({len(package['definitions'])} definitions) to {output.name}.", err=True
        )
