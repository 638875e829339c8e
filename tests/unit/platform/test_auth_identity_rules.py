"""Identity services: workspaces, members, roles and departments keep their rules and their tenants apart."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from opsloom.platform.actor import SYSTEM, Actor
from opsloom.platform.auth import service as identity
from opsloom.platform.errors import Conflict, NotFound, PermissionDenied, RateLimited, ValidationError
from opsloom.platform.models import AuditEntry, LoginAttempt, Membership, OutboxEvent, Role, User, Workspace

if TYPE_CHECKING:
    from collections.abc import Iterator

    from flask import Flask
    from sqlalchemy.orm import Session


NOW = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
LIMITS = {"max_per_account": 2, "max_per_address": 10, "window_seconds": 600}
#: where and when sam changes his password, and the limits that apply
FROM_SAM = {"address": "10.0.0.9", "now": NOW, **LIMITS}


@pytest.fixture(autouse=True)
def _fast_hashing(app_config: dict[str, Any]) -> None:
    app_config["PASSWORD_HASH_PROFILE"] = "fast"


@pytest.fixture
def ids(app: Flask) -> dict[str, int]:
    """acme: alice (admin), sam (staff); globex: olga (admin)."""
    with app.extensions["opsloom.db"].session_scope() as s:
        out: dict[str, int] = {}
        for ws_key, members in (
            ("acme", (("alice", "admin"), ("sam", "staff"))),
            ("globex", (("olga", "admin"),)),
        ):
            ws = identity.ensure_workspace(s, key=ws_key, name=ws_key.title())
            out[ws_key] = ws.id
            for name, role in members:
                user = identity.create_user(s, username=name, password=f"pw-{name}-123456")
                identity.add_member(s, ws, user, role_keys=[role])
                out[name] = user.id
        return out


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """One transaction for the test, rolled back at the end."""
    s = app.extensions["opsloom.db"].sessions()
    yield s
    s.rollback()
    s.close()


def as_(s: Session, ids: dict[str, int], who: str, ws: str = "acme") -> Actor:
    return identity.actor_for(
        s, s.get(User, ids[who]), ids[ws], via="test", request_id="rq-1", address="127.0.0.1"
    )


# ---------------------------------------------------------------- workspaces and actors


def test_ensure_workspace_creates_default_roles_once(session: Session) -> None:
    first = identity.ensure_workspace(session, key="initech", name="Initech")
    again = identity.ensure_workspace(session, key="initech", name="Other name")
    assert again.id == first.id
    assert again.name == "Initech"
    roles = {r.key: r.is_admin for r in session.scalars(select(Role).where(Role.workspace_id == first.id))}
    assert roles == {"admin": True, "staff": False}
    assert (
        session.scalar(select(AuditEntry).where(AuditEntry.object_type == "workspace")).workspace_id
        == first.id
    )


@pytest.mark.parametrize("key", ["Acme", "1acme", "ac-me", "", "a" * 41])
def test_workspace_keys_are_identifiers(session: Session, key: str) -> None:
    with pytest.raises(ValidationError) as caught:
        identity.ensure_workspace(session, key=key, name="X")
    assert "key" in caught.value.errors


def test_only_superusers_create_workspaces(session: Session, ids: dict[str, int]) -> None:
    with pytest.raises(PermissionDenied):
        identity.create_workspace(session, key="newco", name="NewCo", actor=as_(session, ids, "alice"))
    session.get(User, ids["alice"]).is_superuser = True
    boss = as_(session, ids, "alice")
    ws = identity.create_workspace(session, key="newco", name="NewCo", timezone="Europe/Berlin", actor=boss)
    assert ws.timezone == "Europe/Berlin"
    assert as_(session, ids, "alice", "acme").is_superuser
    # the creator administers the new workspace
    member = session.scalar(select(Membership).where(Membership.workspace_id == ws.id))
    assert member.user_id == ids["alice"]
    assert [r.key for r in member.roles] == ["admin"]
    with pytest.raises(Conflict):
        identity.create_workspace(session, key="newco", name="Again", actor=boss)
    with pytest.raises(ValidationError) as caught:
        identity.create_workspace(session, key="Bad Key", name="", timezone="Mars/Olympus", actor=boss)
    assert set(caught.value.errors) == {"key", "name", "timezone"}


def test_actor_carries_roles_admin_flag_department_and_timezone(
    session: Session, ids: dict[str, int]
) -> None:
    alice, sam = as_(session, ids, "alice"), as_(session, ids, "sam")
    assert alice.is_admin
    assert alice.role_keys == {"admin"}
    assert alice.workspace_id == ids["acme"]
    assert not sam.is_admin
    assert sam.role_keys == {"staff"}
    assert sam.timezone == "Asia/Shanghai"
    assert sam.via == "test"
    assert sam.request_id == "rq-1"
    with pytest.raises(NotFound):
        as_(session, ids, "sam", "globex")


def test_workspaces_of_lists_active_memberships_and_everything_for_superusers(
    session: Session, ids: dict[str, int]
) -> None:
    sam = session.get(User, ids["sam"])
    assert [w.key for w in identity.workspaces_of(session, sam)] == ["acme"]
    sam.is_superuser = True
    assert [w.key for w in identity.workspaces_of(session, sam)] == ["acme", "globex"]
    assert as_(session, ids, "sam", "globex").is_admin  # superusers administer any workspace


# ---------------------------------------------------------------- users and members


def test_usernames_are_normalised_and_unique(session: Session) -> None:
    user = identity.create_user(session, username="  Zoë.Li ", password="long-enough-1")
    assert user.username == "zoë.li"
    with pytest.raises(Conflict) as caught:
        identity.create_user(session, username="ZOË.LI", password="long-enough-1")
    assert caught.value.errors == {"username": "already taken"}


def test_create_user_reports_every_bad_field(session: Session) -> None:
    with pytest.raises(ValidationError) as caught:
        identity.create_user(
            session, username="x", password="short", email="not-mail", display_name="d" * 201
        )
    assert set(caught.value.errors) == {"username", "password", "email", "display_name"}
    assert session.scalar(select(User).where(User.username == "x")) is None


def test_create_user_audits_without_the_hash_and_emits_an_event(session: Session) -> None:
    user = identity.create_user(session, username="newbie", password="long-enough-1", email="n@example.com")
    entry = session.scalar(
        select(AuditEntry).where(AuditEntry.object_type == "user", AuditEntry.object_id == str(user.id))
    )
    assert entry.action == "create"
    assert entry.after["email"] == "n@example.com"
    assert "password_hash" not in entry.after
    assert user.password_hash not in repr(entry.after)
    event = session.scalar(select(OutboxEvent).where(OutboxEvent.type == "user.created"))
    assert event.payload["username"] == "newbie"


def test_members_are_managed_by_their_own_workspace_admins_only(
    session: Session, ids: dict[str, int]
) -> None:
    alice, sam, olga = (
        as_(session, ids, "alice"),
        as_(session, ids, "sam"),
        as_(session, ids, "olga", "globex"),
    )
    assert {m.user.username for m in identity.list_members(session, alice).items} == {"alice", "sam"}
    with pytest.raises(PermissionDenied):
        identity.list_members(session, sam)
    with pytest.raises(NotFound):
        identity.get_member(session, olga, ids["sam"])
    with pytest.raises(NotFound):
        identity.update_member(session, olga, ids["sam"], is_active=False)
    with pytest.raises(PermissionDenied):
        identity.add_member(
            session, session.get(Workspace, ids["acme"]), session.get(User, ids["olga"]), actor=olga
        )


def test_create_member_makes_a_user_or_adds_an_existing_one(session: Session, ids: dict[str, int]) -> None:
    alice = as_(session, ids, "alice")
    made = identity.create_member(
        session, alice, username="newbie", password="long-enough-1", role_keys=["staff"]
    )
    assert made.user.username == "newbie"
    assert made.workspace_id == ids["acme"]
    olga_admin = as_(session, ids, "olga", "globex")
    added = identity.create_member(session, olga_admin, username="newbie", role_keys=["staff"])
    assert added.workspace_id == ids["globex"]
    assert added.user_id == made.user_id
    with pytest.raises(Conflict):
        identity.create_member(session, alice, username="newbie")
    with pytest.raises(NotFound):
        identity.create_member(session, alice, username="ghost")
    with pytest.raises(ValidationError) as caught:
        identity.create_member(session, alice, username="other", password="long-enough-1", role_keys=["nope"])
    assert "roles" in caught.value.errors
    # nothing was created for the refused member
    assert session.scalar(select(User).where(User.username == "other")) is None


def test_search_and_pages_of_members(session: Session, ids: dict[str, int]) -> None:
    alice = as_(session, ids, "alice")
    for i in range(4):
        identity.create_member(
            session, alice, username=f"agent{i}", password="long-enough-1", display_name=f"Agent 100%_{i}"
        )
    found = identity.list_members(session, alice, search="100%_2")
    assert [m.user.username for m in found.items] == ["agent2"]
    first = identity.list_members(session, alice, limit=4, secret="k")
    rest = identity.list_members(session, alice, limit=4, cursor=first.next_cursor, secret="k")
    assert len(first.items) == 4
    assert len(rest.items) == 2
    assert rest.next_cursor is None


def test_update_member_changes_roles_department_and_access(session: Session, ids: dict[str, int]) -> None:
    alice = as_(session, ids, "alice")
    dept = identity.create_department(session, alice, key="support", name="Support")
    epoch = session.get(User, ids["sam"]).auth_epoch
    member = identity.update_member(
        session,
        alice,
        ids["sam"],
        role_keys=["staff", "admin"],
        department_id=dept.id,
        display_name="Sam S.",
        email="sam@example.com",
    )
    assert sorted(r.key for r in member.roles) == ["admin", "staff"]
    assert member.department_id == dept.id
    member = identity.update_member(session, alice, ids["sam"], is_active=False)
    assert not member.is_active
    assert member.user.auth_epoch == epoch + 1
    actions = session.scalars(
        select(AuditEntry.action).where(
            AuditEntry.object_type == "member", AuditEntry.object_id == str(ids["sam"])
        )
    ).all()
    assert actions[-2:] == ["update", "deactivate"]
    with pytest.raises(NotFound):
        as_(session, ids, "sam")  # a deactivated member no longer acts here


def test_update_member_refuses_bad_values_and_changes_nothing(session: Session, ids: dict[str, int]) -> None:
    alice = as_(session, ids, "alice")
    other_dept = identity.create_department(
        session, as_(session, ids, "olga", "globex"), key="ops", name="Ops"
    )
    with pytest.raises(ValidationError) as caught:
        identity.update_member(
            session, alice, ids["sam"], role_keys=["ghost"], department_id=other_dept.id, email="nope"
        )
    assert set(caught.value.errors) == {"roles", "department", "email"}
    sam = identity.get_member(session, alice, ids["sam"])
    assert [r.key for r in sam.roles] == ["staff"]
    assert sam.department_id is None
    assert sam.user.email is None


def test_last_admin_cannot_be_demoted_or_deactivated(session: Session, ids: dict[str, int]) -> None:
    alice = as_(session, ids, "alice")
    with pytest.raises(Conflict, match="without an active administrator"):
        identity.update_member(session, alice, ids["alice"], role_keys=["staff"])
    with pytest.raises(Conflict):
        identity.deactivate_member(session, alice, ids["alice"])
    identity.update_member(session, alice, ids["sam"], role_keys=["admin"])
    identity.deactivate_member(session, alice, ids["alice"])  # sam administers now
    assert not identity.get_member(session, as_(session, ids, "sam"), ids["alice"]).is_active


def test_profile_of_a_user_shared_with_other_workspaces_is_theirs(
    session: Session, ids: dict[str, int]
) -> None:
    olga_admin = as_(session, ids, "olga", "globex")
    identity.create_member(session, olga_admin, username="sam")
    with pytest.raises(PermissionDenied, match="other workspaces"):
        identity.update_member(session, olga_admin, ids["sam"], display_name="Not Sam")
    # roles and access in one's own workspace stay editable
    identity.update_member(session, olga_admin, ids["sam"], role_keys=["staff"])


def test_users_set_only_their_own_language(session: Session, ids: dict[str, int]) -> None:
    sam = as_(session, ids, "sam")
    assert identity.set_user_locale(session, sam, ids["sam"], "zh_CN").locale == "zh_CN"
    with pytest.raises(PermissionDenied):
        identity.set_user_locale(session, sam, ids["alice"], "en")
    with pytest.raises(ValidationError):
        identity.set_user_locale(session, sam, ids["sam"], "<script>")


def test_change_password_checks_the_old_one_and_ends_sessions(session: Session, ids: dict[str, int]) -> None:
    sam_user = session.get(User, ids["sam"])
    sam = as_(session, ids, "sam")
    with pytest.raises(ValidationError) as caught:
        identity.change_password(
            session,
            user=sam_user,
            current_password="wrong",
            new_password="brand-new-1",
            **FROM_SAM,
            actor=sam,
        )
    assert "current_password" in caught.value.errors
    with pytest.raises(ValidationError) as caught:
        identity.change_password(
            session,
            user=sam_user,
            current_password="pw-sam-123456",
            new_password="short",
            actor=sam,
            **FROM_SAM,
        )
    assert "new_password" in caught.value.errors
    epoch = sam_user.auth_epoch
    identity.change_password(
        session,
        user=sam_user,
        current_password="pw-sam-123456",
        new_password="brand-new-1",
        actor=sam,
        **FROM_SAM,
    )
    assert sam_user.auth_epoch == epoch + 1
    with pytest.raises(PermissionDenied):
        identity.change_password(
            session,
            user=sam_user,
            current_password="brand-new-1",
            new_password="x" * 9,
            actor=as_(session, ids, "alice"),
            **FROM_SAM,
        )


def test_a_wrong_current_password_counts_like_a_failed_sign_in(session: Session, ids: dict[str, int]) -> None:
    sam_user = session.get(User, ids["sam"])
    sam = as_(session, ids, "sam")
    for _ in range(2):
        with pytest.raises(ValidationError):
            identity.change_password(
                session,
                user=sam_user,
                current_password="guess",
                new_password="brand-new-1",
                actor=sam,
                **FROM_SAM,
            )
    failed = session.scalars(select(LoginAttempt).where(LoginAttempt.success.is_(False))).all()
    assert [(a.username, a.address, a.user_id) for a in failed] == [("sam", "10.0.0.9", ids["sam"])] * 2
    # the limit is reached: even the right password is not checked now, and nothing changes
    hash_before = sam_user.password_hash
    with pytest.raises(RateLimited) as caught:
        identity.change_password(
            session,
            user=sam_user,
            current_password="pw-sam-123456",
            new_password="brand-new-1",
            actor=sam,
            **FROM_SAM,
        )
    assert caught.value.context["retry_after"] > 0
    assert caught.value.errors == {"current_password": "too many attempts"}
    assert sam_user.password_hash == hash_before
    # the same counter guards sign-in
    with pytest.raises(RateLimited):
        identity.authenticate_password(
            session, username="sam", password="pw-sam-123456", now=NOW, address="10.0.0.7", **LIMITS
        )


# ---------------------------------------------------------------- roles


def test_role_crud_with_audit(session: Session, ids: dict[str, int]) -> None:
    alice = as_(session, ids, "alice")
    role = identity.create_role(session, alice, key="agent", permissions={"entity:ticket": {"read": "all"}})
    assert role.name == "agent"
    assert not role.is_admin
    identity.update_role(session, alice, "agent", name="Agent", description="Handles tickets")
    assert identity.get_role(session, alice, "agent").name == "Agent"
    assert [r.key for r in identity.list_roles(session, alice).items] == ["admin", "agent", "staff"]
    identity.delete_role(session, alice, "agent")
    with pytest.raises(NotFound):
        identity.get_role(session, alice, "agent")
    actions = session.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "role")).all()
    assert actions == ["create", "update", "delete"]


def test_role_rules(session: Session, ids: dict[str, int]) -> None:
    alice = as_(session, ids, "alice")
    with pytest.raises(ValidationError):
        identity.create_role(session, alice, key="Bad-Key")
    with pytest.raises(Conflict):
        identity.create_role(session, alice, key="staff")
    with pytest.raises(ValidationError):
        identity.create_role(session, alice, key="ok", permissions=["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(Conflict, match="cannot be deleted"):
        identity.delete_role(session, alice, "admin")
    with pytest.raises(Conflict, match="always administers"):
        identity.update_role(session, alice, "admin", is_admin=False)
    with pytest.raises(Conflict, match="still hold"):
        identity.delete_role(session, alice, "staff")
    with pytest.raises(PermissionDenied):
        identity.create_role(session, as_(session, ids, "sam"), key="sneaky", is_admin=True)
    with pytest.raises(NotFound):
        identity.get_role(session, as_(session, ids, "olga", "globex"), "nonexistent")


def test_demoting_the_only_admin_role_in_use_is_refused(session: Session, ids: dict[str, int]) -> None:
    alice = as_(session, ids, "alice")
    identity.create_role(session, alice, key="boss", is_admin=True)
    identity.update_member(session, alice, ids["sam"], role_keys=["boss"])
    identity.update_member(session, alice, ids["alice"], role_keys=["staff"])  # sam (boss) still administers
    with pytest.raises(Conflict, match="without an administrator"):
        identity.update_role(session, as_(session, ids, "sam"), "boss", is_admin=False)


# ---------------------------------------------------------------- departments


def test_department_tree_and_moves(session: Session, ids: dict[str, int]) -> None:
    alice = as_(session, ids, "alice")
    root = identity.create_department(session, alice, key="ops", name="Operations", head_user_id=ids["alice"])
    support = identity.create_department(session, alice, key="support", name="Support", parent_id=root.id)
    tier2 = identity.create_department(session, alice, key="tier2", name="Tier 2", parent_id=support.id)
    tree = identity.as_tree(identity.list_departments(session, alice).items)
    assert [(d.key, depth) for d, depth in tree] == [("ops", 0), ("support", 1), ("tier2", 2)]
    # a department cannot move under itself or its descendants
    for new_parent in (root.id, tier2.id):
        with pytest.raises(ValidationError, match="cycles") as caught:
            identity.update_department(
                session, alice, root.id if new_parent == root.id else support.id, parent_id=new_parent
            )
        assert caught.value.errors == {"parent": "would create a cycle"}
    identity.update_department(session, alice, tier2.id, parent_id=None, key="tier_two")
    assert identity.get_department(session, alice, tier2.id).parent_id is None


def test_department_refusals(session: Session, ids: dict[str, int]) -> None:
    alice, olga = as_(session, ids, "alice"), as_(session, ids, "olga", "globex")
    ops = identity.create_department(session, alice, key="ops", name="Operations")
    identity.create_department(session, alice, key="support", name="Support", parent_id=ops.id)
    with pytest.raises(Conflict):
        identity.create_department(session, alice, key="ops", name="Again")
    with pytest.raises(ValidationError) as caught:
        identity.create_department(session, olga, key="x", name="X", parent_id=ops.id)  # foreign parent
    assert caught.value.errors == {"parent": "unknown department"}
    with pytest.raises(ValidationError) as caught:
        identity.create_department(
            session, alice, key="y", name="Y", head_user_id=ids["olga"]
        )  # not a member
    assert caught.value.errors == {"head": "not an active member"}
    with pytest.raises(NotFound):
        identity.get_department(session, olga, ops.id)
    with pytest.raises(Conflict, match="sub-department") as caught:
        identity.delete_department(session, alice, ops.id)
    assert caught.value.context["children"] == 1


def test_department_with_members_cannot_be_deleted(session: Session, ids: dict[str, int]) -> None:
    alice = as_(session, ids, "alice")
    dept = identity.create_department(session, alice, key="sales", name="Sales")
    identity.update_member(session, alice, ids["sam"], department_id=dept.id)
    with pytest.raises(Conflict, match="member"):
        identity.delete_department(session, alice, dept.id)
    identity.update_member(session, alice, ids["sam"], department_id=None)
    identity.delete_department(session, alice, dept.id)
    with pytest.raises(NotFound):
        identity.get_department(session, alice, dept.id)


def test_system_actor_without_workspace_cannot_list(session: Session) -> None:
    with pytest.raises(PermissionDenied):
        identity.list_roles(session, SYSTEM)
