"""``opsloom init``, ``opsloom user create``/``set-password`` and ``opsloom token create``: identity from
the command line.

Each command builds the app, works in one ``session_scope`` (one commit) and turns every
refusal into one clear line on stderr with a non-zero exit.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import TYPE_CHECKING

import click
from sqlalchemy import func, select

from opsloom.platform.actor import Actor
from opsloom.platform.db import utcnow
from opsloom.platform.errors import OpsloomError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from flask import Flask
    from sqlalchemy.orm import Session

    from opsloom.platform.models import User, Workspace

__all__ = ["register_commands"]

#: who the audit log names for changes made from the command line
CLI_ACTOR = Actor(user_id=None, username="cli", display_name="opsloom CLI", is_admin=True, via="cli")
DEFAULT_WORKSPACE = "main"


@contextlib.contextmanager
def _session() -> Iterator[tuple[Flask, Session]]:
    """The app and its database in one transaction; service refusals end the command (exit 1)."""
    from opsloom.platform.cli import fail, load_app

    app = load_app()
    database = app.extensions["opsloom.db"]
    try:
        with database.session_scope() as session:
            yield app, session
    except OpsloomError as exc:
        fail(_explain(exc), 1)
    finally:
        database.dispose()


def _explain(exc: OpsloomError) -> str:
    if exc.errors and not any(reason in exc.detail for reason in exc.errors.values()):
        return exc.detail + " (" + "; ".join(f"{k}: {v}" for k, v in sorted(exc.errors.items())) + ")"
    return exc.detail


def _find_user(session: Session, username: str) -> User:
    """The user named ``username`` (any case); ends the command (exit 1) when there is none."""
    from opsloom.platform.cli import fail
    from opsloom.platform.models import User

    user = session.scalar(select(User).where(func.lower(User.username) == username.strip().lower()))
    if user is None:
        fail(f"there is no user {username!r}.", 1)
    return user


def _pick_workspace(session: Session, key: str | None) -> Workspace:
    from opsloom.platform.cli import fail
    from opsloom.platform.models import Workspace

    if key is not None:
        workspace = session.scalar(select(Workspace).where(Workspace.key == key))
        if workspace is None:
            fail(f"there is no workspace {key!r}.", 1)
        return workspace
    workspaces = list(session.scalars(select(Workspace).where(Workspace.archived_at.is_(None)).limit(2)))
    if not workspaces:
        fail("there is no workspace yet; run `opsloom init --admin USER --password PW` first.", 1)
    if len(workspaces) > 1:
        fail("there are several workspaces; choose one with --workspace KEY.", 1)
    return workspaces[0]


@click.command("init")
@click.option("--admin", "admin_name", required=True, help="Username of the first administrator.")
@click.option("--password", required=True, help="Their password (at least 8 characters).")
@click.option(
    "--workspace",
    "workspace_key",
    default=DEFAULT_WORKSPACE,
    show_default=True,
    help="Key of the workspace to create (or reuse).",
)
@click.option("--workspace-name", default=None, help="Display name of the workspace (default: from the key).")
def init(admin_name: str, password: str, workspace_key: str, workspace_name: str | None) -> None:
    """Create the first administrator: a platform superuser who administers the workspace."""
    from opsloom.platform.cli import fail
    from opsloom.platform.models import User

    from . import service

    with _session() as (_app, session):
        username = service.normalize_username(admin_name)
        if session.scalar(select(User.id).where(User.username == username)) is not None:
            fail(
                f"the user {username!r} already exists; this instance is initialised "
                "(use `opsloom user create` for more users).",
                1,
            )
        name = workspace_name or workspace_key.replace("_", " ").title()
        workspace = service.ensure_workspace(session, key=workspace_key, name=name, actor=CLI_ACTOR)
        user = service.create_user(
            session,
            username=username,
            password=password,
            display_name=admin_name,
            is_superuser=True,
            actor=CLI_ACTOR,
        )
        service.add_member(session, workspace, user, role_keys=["admin"], actor=CLI_ACTOR)
        key = workspace.key
    click.echo(f"Created superuser {username!r}, administrator of workspace {key!r}.")
    click.echo("Sign in at /login, or get an API token with POST /api/v1/auth/token.")


@click.group("user")
def user_group() -> None:
    """Users of this instance."""


@user_group.command("create")
@click.argument("username")
@click.option("--password", required=True, help="At least 8 characters.")
@click.option("--workspace", "workspace_key", default=None, help="Workspace key (default: the only one).")
@click.option("--role", "roles", multiple=True, help="Role key; repeat for several (default: staff).")
@click.option("--display-name", default="", help="Name shown in pages.")
@click.option("--email", default=None)
def user_create(
    username: str,
    password: str,
    workspace_key: str | None,
    roles: tuple[str, ...],
    display_name: str,
    email: str | None,
) -> None:
    """Create a user and make them a member of a workspace."""
    from . import service

    with _session() as (_app, session):
        workspace = _pick_workspace(session, workspace_key)
        role_keys = list(roles) or ["staff"]
        user = service.create_user(
            session,
            username=username,
            password=password,
            display_name=display_name,
            email=email,
            actor=CLI_ACTOR,
        )
        service.add_member(session, workspace, user, role_keys=role_keys, actor=CLI_ACTOR)
        name, key = user.username, workspace.key
    click.echo(f"Created user {name!r} in workspace {key!r} with role(s) {', '.join(role_keys)}.")


@user_group.command("set-password")
@click.argument("username")
@click.option(
    "--password",
    prompt="New password",
    hide_input=True,
    confirmation_prompt=True,
    help="At least 8 characters; asked for (without echo) when left out, which keeps it out of the shell history.",
)
def user_set_password(username: str, password: str) -> None:
    """Give USERNAME a new password (e.g. a locked-out administrator); their browser sessions end.

    Their API tokens stay valid: revoke them apart when the account may be compromised.
    """
    from . import service

    with _session() as (_app, session):
        user = _find_user(session, username)
        service.set_password(session, CLI_ACTOR, user.id, password)
        name = user.username
    click.echo(f"Set a new password for {name!r}; their browser sessions have ended.")


@click.group("token")
def token_group() -> None:
    """API tokens."""


@token_group.command("create")
@click.argument("username")
@click.option("--workspace", "workspace_key", default=None, help="Workspace key (default: the user's first).")
@click.option("--name", default="cli", show_default=True, help="To tell tokens apart.")
@click.option(
    "--days",
    type=click.IntRange(0, 3650),
    default=None,
    help="Days until it expires; 0 = never (default: TOKEN_DEFAULT_DAYS).",
)
def token_create(username: str, workspace_key: str | None, name: str, days: int | None) -> None:
    """Issue an API token for USERNAME and print it (only this once) on stdout."""
    from opsloom.platform.cli import fail

    from . import service

    with _session() as (app, session):
        user = _find_user(session, username)
        if workspace_key is not None:
            workspace = service.get_workspace_for(session, user, workspace_key)
        else:
            workspace = service.default_workspace(session, user)
            if workspace is None:
                fail(f"{user.username!r} belongs to no workspace; add them to one first.", 1)
        if days is None:
            days = int(app.config.get("TOKEN_DEFAULT_DAYS") or 0)
        now = utcnow()
        expires_at = now + timedelta(days=days) if days else None
        token, plaintext = service.issue_token(
            session,
            user=user,
            workspace=workspace,
            name=name,
            expires_at=expires_at,
            actor=CLI_ACTOR,
            now=now,
        )
        expiry = token.expires_at.date().isoformat() if token.expires_at else "never"
        key = workspace.key
    click.echo(
        f"Token for {user.username!r} in workspace {key!r} (expires: {expiry}); it is shown only now:",
        err=True,
    )
    click.echo(plaintext)


def register_commands(group: click.Group) -> None:
    group.add_command(init)
    group.add_command(user_group)
    group.add_command(token_group)
