"""``opsloom init``, ``user create`` and ``token create`` through click on a fresh, migrated SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from opsloom.platform.auth.commands import register_commands
from opsloom.platform.cli import cli
from opsloom.platform.db import Database
from opsloom.platform.models import ApiToken, AuditEntry, Membership, User

if TYPE_CHECKING:
    from pathlib import Path

    from click.testing import Result

register_commands(cli)


@pytest.fixture
def instance(tmp_path: Path) -> dict[str, str]:
    env = {
        "OPSLOOM_INSTANCE_PATH": str(tmp_path / "instance"),
        "OPSLOOM_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "OPSLOOM_JOBS_MODE": "off",
        "OPSLOOM_LOAD_ENTRY_POINTS": "false",
        "OPSLOOM_PASSWORD_HASH_PROFILE": "fast",
    }
    result = CliRunner().invoke(cli, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    return env


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


def database(env: dict[str, str]) -> Database:
    return Database(env["OPSLOOM_DATABASE_URL"])


def test_init_creates_a_superuser_who_administers_the_workspace(instance: dict[str, str]) -> None:
    result = run(
        instance,
        "init",
        "--admin",
        "Root",
        "--password",
        "root-password-1",
        "--workspace",
        "hq",
        "--workspace-name",
        "Head Office",
    )
    assert result.exit_code == 0, result.output
    assert "'root'" in result.output
    assert "'hq'" in result.output
    db = database(instance)
    with db.session_scope() as s:
        user = s.scalar(select(User).where(User.username == "root"))
        assert user.is_superuser
        member = s.scalar(select(Membership).where(Membership.user_id == user.id))
        assert member.workspace.name == "Head Office"
        assert [r.key for r in member.roles] == ["admin"]
        assert (
            s.scalar(select(AuditEntry).where(AuditEntry.object_type == "user")).actor_name == "opsloom CLI"
        )
    db.dispose()


def test_a_second_init_is_refused(instance: dict[str, str]) -> None:
    assert run(instance, "init", "--admin", "root", "--password", "root-password-1").exit_code == 0
    again = run(instance, "init", "--admin", "ROOT", "--password", "other-password-1")
    assert again.exit_code == 1
    assert "already exists" in again.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--admin", "root", "--password", "short"], "at least 8"),
        (["--admin", "root", "--password", "root-password-1", "--workspace", "Bad Key"], "key"),
        (["--admin", "x", "--password", "root-password-1"], "username"),
    ],
)
def test_init_refuses_bad_values_and_creates_nothing(
    instance: dict[str, str], args: list[str], message: str
) -> None:
    result = run(instance, "init", *args)
    assert result.exit_code == 1
    assert message in result.output
    db = database(instance)
    with db.session_scope() as s:
        assert s.scalars(select(User)).all() == []
    db.dispose()


def test_init_needs_its_options(instance: dict[str, str]) -> None:
    result = run(instance, "init", "--admin", "root")
    assert result.exit_code == 2
    assert "--password" in result.output


def test_user_create(instance: dict[str, str]) -> None:
    assert (
        run(instance, "user", "create", "x1", "--password", "long-enough-1").exit_code == 1
    )  # no workspace yet
    run(instance, "init", "--admin", "root", "--password", "root-password-1")
    made = run(
        instance,
        "user",
        "create",
        "Agent7",
        "--password",
        "long-enough-1",
        "--role",
        "staff",
        "--role",
        "admin",
        "--display-name",
        "Agent Seven",
        "--email",
        "a7@example.com",
    )
    assert made.exit_code == 0, made.output
    db = database(instance)
    with db.session_scope() as s:
        member = s.scalar(select(Membership).join(User).where(User.username == "agent7"))
        assert sorted(r.key for r in member.roles) == ["admin", "staff"]
        assert member.user.email == "a7@example.com"
    db.dispose()
    duplicate = run(instance, "user", "create", "agent7", "--password", "long-enough-1")
    assert duplicate.exit_code == 1
    assert "taken" in duplicate.output
    unknown_role = run(instance, "user", "create", "agent8", "--password", "long-enough-1", "--role", "ghost")
    assert unknown_role.exit_code == 1
    assert "ghost" in unknown_role.output
    unknown_ws = run(
        instance, "user", "create", "agent9", "--password", "long-enough-1", "--workspace", "nowhere"
    )
    assert unknown_ws.exit_code == 1
    assert "nowhere" in unknown_ws.output
    db = database(instance)
    with db.session_scope() as s:  # the refused users were not half-created
        assert s.scalar(select(User).where(User.username.in_(["agent8", "agent9"]))) is None
    db.dispose()


def test_token_create_prints_the_token_once_on_stdout(instance: dict[str, str]) -> None:
    run(instance, "init", "--admin", "root", "--password", "root-password-1")
    result = CliRunner().invoke(
        cli, ["token", "create", "root", "--name", "deploy", "--days", "30"], env=instance
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("olt_")
    assert "\n" not in token
    assert "shown only now" in result.stderr
    db = database(instance)
    with db.session_scope() as s:
        from opsloom.platform.auth.service import authenticate_token

        row, user = authenticate_token(s, token, datetime.now(UTC))
        assert user.username == "root"
        assert row.name == "deploy"
        assert row.expires_at is not None
    db.dispose()
    forever = run(instance, "token", "create", "root", "--days", "0")
    assert forever.exit_code == 0
    db = database(instance)
    with db.session_scope() as s:
        assert s.scalar(select(ApiToken).order_by(ApiToken.id.desc())).expires_at is None
    db.dispose()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["ghost"], 1, "no user"),
        (["root", "--workspace", "nowhere"], 1, "not a member"),
        (["root", "--days", "-1"], 2, "--days"),
        (["root", "--name", ""], 1, "name"),
    ],
)
def test_token_create_refusals(instance: dict[str, str], args: list[str], code: int, message: str) -> None:
    run(instance, "init", "--admin", "root", "--password", "root-password-1")
    result = run(instance, "token", "create", *args)
    assert result.exit_code == code, result.output
    assert message in result.output
