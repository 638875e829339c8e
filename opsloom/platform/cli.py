"""The ``opsloom`` command: a click group; each area adds its commands through ``register_commands``.

Commands build the app themselves (``load_app``) so that ``db upgrade`` can run against an
outdated database that ``create_app`` would refuse. Errors print one clear line and exit
non-zero; a command commits at most once (``session_scope``).
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

import click

from .errors import OpsloomError

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["cli", "fail", "load_app", "main"]

#: modules with a ``register_commands(group)`` function
COMMAND_MODULES = (
    "opsloom.platform.auth.commands",
    "opsloom.platform.definitions.commands",
    "opsloom.platform.jobs.commands",
    "opsloom.platform.serve_commands",
)


def fail(message: str, code: int = 2) -> None:
    """Print ``message`` on stderr and exit with ``code``."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def load_app(**overrides: Any) -> Flask:
    """The app for a command; schema or config problems end the command with a clear message."""
    from opsloom import create_app

    try:
        return create_app(overrides or None)
    except OpsloomError as exc:
        fail(exc.detail)
        raise  # unreachable; keeps type checkers calm


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="opsloom", prog_name="opsloom")
def cli() -> None:
    """opsloom: customer operations, built by configuration."""


@cli.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="heads", show_default=True, help="Target Alembic revision (default: every branch at its head).")
def db_upgrade(revision: str) -> None:
    """Create or upgrade the platform and engine tables to the version this opsloom needs."""
    from .config import load_settings
    from .db import Database
    from .migrations import current_revision, head_revision, upgrade

    settings = load_settings()
    database = Database(settings["DATABASE_URL"])
    try:
        before = current_revision(database)
        upgrade(database, revision)
        after = current_revision(database)
    except Exception as exc:
        fail(f"could not upgrade {database.engine.url.render_as_string(hide_password=True)}: {exc}")
    finally:
        database.dispose()
    if before == after:
        click.echo(f"Database already at {after} (head is {head_revision()}).")
    else:
        click.echo(f"Database upgraded from {before or 'empty'} to {after}.")


def _register_all() -> None:
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register_commands(cli)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    _register_all()
    try:
        cli.main(args=argv, prog_name="opsloom", standalone_mode=True)
    except OpsloomError as exc:
        fail(exc.detail)
