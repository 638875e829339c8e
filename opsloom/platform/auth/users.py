"""Users and their memberships: sign-up, workspace members (add, list, update, deactivate), own
settings, and passwords (changed by their owner, or set anew by an administrator).

A user is global (one username, one password); what they are in a workspace — roles,
department, active or not — is their membership there. Workspace administrators manage
memberships of their own workspace only; a user's profile (name, e-mail) and password are
theirs to change unless no other workspace shares them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Unpack

from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from opsloom.platform.actor import SYSTEM
from opsloom.platform.audit import record
from opsloom.platform.errors import Conflict, NotFound, PermissionDenied, ValidationError
from opsloom.platform.events import emit
from opsloom.platform.models import Department, Membership, User, Workspace
from opsloom.platform.pagination import SortKey

from . import passwords
from ._common import UNSET, check_text, list_page, log_change, now_or, require_admin
from .login import verify_current_password
from .roles import admins_remaining, resolve_roles

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from sqlalchemy.orm import Session

    from opsloom.platform.actor import Actor
    from opsloom.platform.pagination import Page

    from .login import LoginLimits

__all__ = [
    "add_member",
    "change_password",
    "create_member",
    "create_user",
    "deactivate_member",
    "get_member",
    "list_members",
    "normalize_username",
    "password_target",
    "set_password",
    "set_user_locale",
    "update_member",
]

# letters (any script), digits, _ . @ + -; starting with a letter or digit
USERNAME_PATTERN = re.compile(r"^[^\W_][\w.@+-]{1,79}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LOCALE_PATTERN = re.compile(r"^[a-z]{2,3}(_[A-Z][A-Za-z]{1,3})?$")
_KEYS = (SortKey("id", Membership.id),)


def normalize_username(value: object) -> str:
    """The stored form of a username (trimmed, lower case); :raises ValidationError: not a username."""
    if not isinstance(value, str) or not USERNAME_PATTERN.match(value.strip()):
        raise ValidationError(
            "A username has 2-80 letters, digits or the signs _ . @ + - and starts with a letter or digit; "
            f"got {value!r}.",
            errors={"username": "2-80 letters, digits, _ . @ + -"},
        )
    return value.strip().lower()


def _check_email(value: object) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 254 or not EMAIL_PATTERN.match(value.strip()):
        raise ValidationError(
            f"{value!r} is not an e-mail address.", errors={"email": "not an e-mail address"}
        )
    return value.strip()


def _collect(*checks: Any) -> list[Any]:
    """Run every check, then raise one ValidationError naming every bad field."""
    results, errors = [], {}
    for check in checks:
        try:
            results.append(check())
        except ValidationError as exc:
            errors.update(exc.errors)
            results.append(None)
    if errors:
        raise ValidationError(
            "Some fields are invalid: " + "; ".join(f"{k}: {v}" for k, v in sorted(errors.items())),
            errors=errors,
        )
    return results


def user_view(user: User) -> dict[str, Any]:
    """What the audit log keeps about a user (never the password hash)."""
    return {
        "username": user.username,
        "display_name": user.display_name,
        "email": user.email,
        "is_active": user.is_active,
        "is_superuser": user.is_superuser,
        "locale": user.locale,
    }


def member_view(member: Membership) -> dict[str, Any]:
    return {
        "user_id": member.user_id,
        "username": member.user.username,
        "roles": sorted(role.key for role in member.roles),
        "department_id": member.department_id,
        "is_active": member.is_active,
    }


def _member_image(member: Membership) -> dict[str, Any]:
    """A member as ``update_member`` audits it: the membership plus the user's profile."""
    return {**member_view(member), "display_name": member.user.display_name, "email": member.user.email}


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    display_name: str = "",
    email: str | None = None,
    is_superuser: bool = False,
    actor: Actor = SYSTEM,
    now: datetime | None = None,
) -> User:
    """A new user who may sign in (add them to a workspace with ``add_member``).

    ``is_superuser`` makes a platform operator (``opsloom init``); only the system or
    another superuser may grant it.

    :raises PermissionDenied: ``is_superuser`` asked by an actor who may not grant it.
    :raises ValidationError: bad username, password (policy), display name or e-mail.
    :raises Conflict: the username is taken.
    """
    if is_superuser and not (actor.is_system or actor.is_superuser):
        raise PermissionDenied("Only platform superusers may create other superusers.")
    username_, _, display_name_, email_ = _collect(
        lambda: normalize_username(username),
        lambda: passwords.check_policy(password, username=str(username)),
        lambda: check_text(display_name, "display_name", max_length=200, required=False),
        lambda: _check_email(email),
    )
    if session.scalar(select(User.id).where(User.username == username_)) is not None:
        raise Conflict(
            f"The username {username_!r} is taken; choose another.", errors={"username": "already taken"}
        )
    now = now_or(now)
    user = User(
        username=username_,
        display_name=display_name_ or "",
        email=email_,
        password_hash=passwords.hash_password(password),
        is_active=True,
        is_superuser=bool(is_superuser),
        auth_epoch=0,
        created_at=now,
    )
    session.add(user)
    session.flush()
    record(session, actor, "create", "user", user.id, after=user_view(user), now=now)
    emit(session, "user.created", payload={"id": user.id, "username": user.username}, actor=actor, now=now)
    return user


def _department_in(
    session: Session, workspace_id: int, department: Department | int | None
) -> Department | None:
    if department is None:
        return None
    dept_id = department.id if isinstance(department, Department) else department
    if not isinstance(dept_id, int) or isinstance(dept_id, bool):
        raise ValidationError("`department` must be a department id.", errors={"department": "must be an id"})
    found = session.get(Department, dept_id)
    if found is None or found.workspace_id != workspace_id:
        raise ValidationError(
            f"There is no department {dept_id} in this workspace.",
            errors={"department": "unknown department"},
        )
    return found


def _check_actor_may_manage(actor: Actor, workspace_id: int) -> None:
    # the system (set-up, CLI) and platform superusers may act in any workspace
    if actor.is_system or actor.is_superuser:
        return
    if actor.workspace_id != workspace_id or not actor.is_admin:
        raise PermissionDenied("Only administrators of this workspace may manage its members.")


def add_member(
    session: Session,
    workspace: Workspace,
    user: User,
    *,
    role_keys: Iterable[str] = ("staff",),
    department: Department | int | None = None,
    actor: Actor = SYSTEM,
    now: datetime | None = None,
) -> Membership:
    """Make ``user`` a member of ``workspace`` with ``role_keys`` (and a department).

    :raises PermissionDenied: the actor does not administer ``workspace``.
    :raises ValidationError: an unknown role or department.
    :raises Conflict: the user is already a member.
    """
    _check_actor_may_manage(actor, workspace.id)
    roles = resolve_roles(session, workspace.id, role_keys)
    dept = _department_in(session, workspace.id, department)
    existing = session.scalar(
        select(Membership.id).where(Membership.workspace_id == workspace.id, Membership.user_id == user.id)
    )
    if existing is not None:
        raise Conflict(
            f"{user.username!r} is already a member of this workspace.",
            errors={"username": "already a member"},
        )
    now = now_or(now)
    member = Membership(
        workspace_id=workspace.id,
        user_id=user.id,
        department_id=dept.id if dept else None,
        is_active=True,
        created_at=now,
    )
    member.user = user
    member.roles = roles
    session.add(member)
    session.flush()
    record(
        session,
        actor,
        "create",
        "member",
        user.id,
        after=member_view(member),
        workspace_id=workspace.id,
        now=now,
    )
    emit(
        session,
        "member.added",
        payload={"user_id": user.id, "roles": sorted(r.key for r in roles)},
        workspace_id=workspace.id,
        actor=actor,
        now=now,
    )
    return member


def create_member(
    session: Session,
    actor: Actor,
    *,
    username: str,
    password: str | None = None,
    display_name: str = "",
    email: str | None = None,
    role_keys: Iterable[str] = ("staff",),
    department_id: int | None = None,
    now: datetime | None = None,
) -> Membership:
    """Add a member to the actor's workspace: a new user when ``password`` is given, else an existing one.

    :raises PermissionDenied: the actor is not an administrator here.
    :raises ValidationError: bad fields, unknown role or department.
    :raises NotFound: no password given and no user ``username`` exists.
    :raises Conflict: the username is taken (new user) or already a member.
    """
    workspace_id = require_admin(actor)
    workspace = session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound("The workspace no longer exists.")
    role_keys = list(role_keys)
    # check everything the membership needs before creating anything
    resolve_roles(session, workspace_id, role_keys)
    _department_in(session, workspace_id, department_id)
    if password is not None:
        user = create_user(
            session,
            username=username,
            password=password,
            display_name=display_name,
            email=email,
            actor=actor,
            now=now,
        )
    else:
        name = normalize_username(username)
        found = session.scalar(select(User).where(User.username == name))
        if found is None:
            raise NotFound(
                f"There is no user {name!r}; give a password to create one.",
                errors={"username": "no such user"},
            )
        user = found
    return add_member(
        session, workspace, user, role_keys=role_keys, department=department_id, actor=actor, now=now
    )


def list_members(
    session: Session,
    actor: Actor,
    *,
    search: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
    secret: str = "",
) -> Page:
    """The members of the actor's workspace (oldest first), optionally matching ``search``. Admins only."""
    workspace_id = require_admin(actor)
    stmt = (
        select(Membership)
        .join(User, User.id == Membership.user_id)
        .where(Membership.workspace_id == workspace_id)
        .options(selectinload(Membership.user), selectinload(Membership.roles))
    )
    if search:
        pattern = "%" + search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(
                *(
                    func.lower(col).like(pattern, escape="\\")
                    for col in (User.username, User.display_name, User.email)
                )
            )
        )
    return list_page(
        session,
        stmt,
        _KEYS,
        limit=limit,
        cursor=cursor,
        secret=secret,
        scope=f"members|{workspace_id}|{search or ''}",
    )


def get_member(session: Session, actor: Actor, user_id: int) -> Membership:
    """The membership of user ``user_id`` in the actor's workspace; :raises NotFound: not a member here."""
    workspace_id = require_admin(actor)
    member = session.scalar(
        select(Membership)
        .where(Membership.workspace_id == workspace_id, Membership.user_id == user_id)
        .options(selectinload(Membership.user), selectinload(Membership.roles))
    )
    if member is None:
        raise NotFound(f"There is no user {user_id} in this workspace.")
    return member


def _shared_with_other_workspaces(session: Session, user_id: int, workspace_id: int) -> bool:
    other = session.scalar(
        select(Membership.id)
        .where(Membership.user_id == user_id, Membership.workspace_id != workspace_id)
        .limit(1)
    )
    return other is not None


def update_member(
    session: Session,
    actor: Actor,
    user_id: int,
    *,
    display_name: Any = UNSET,
    email: Any = UNSET,
    role_keys: Any = UNSET,
    department_id: Any = UNSET,
    is_active: Any = UNSET,
    now: datetime | None = None,
) -> Membership:
    """Change a member of the actor's workspace; arguments left ``UNSET`` stay as they are.

    Deactivating bumps the user's auth epoch, which ends their browser sessions.

    :raises NotFound: not a member here.
    :raises ValidationError: bad values, unknown role or department.
    :raises PermissionDenied: profile fields of a user other workspaces share (superusers only).
    :raises Conflict: the change would leave the workspace without an active administrator.
    """
    member = get_member(session, actor, user_id)
    user = member.user
    before = _member_image(member)
    if (
        (display_name is not UNSET or email is not UNSET)
        and not actor.is_superuser
        and _shared_with_other_workspaces(session, user.id, member.workspace_id)
    ):
        raise PermissionDenied(
            f"{user.username!r} also belongs to other workspaces, so only they (or a platform superuser) "
            "may change their name and e-mail.",
            errors={"display_name" if display_name is not UNSET else "email": "shared with other workspaces"},
        )
    new_name, new_email, new_roles, new_dept = _collect(
        lambda: (
            user.display_name
            if display_name is UNSET
            else check_text(display_name, "display_name", max_length=200, required=False)
        ),
        lambda: user.email if email is UNSET else _check_email(email),
        lambda: (
            member.roles
            if role_keys is UNSET
            else resolve_roles(session, member.workspace_id, role_keys or [])
        ),
        lambda: (
            member.department
            if department_id is UNSET
            else _department_in(session, member.workspace_id, department_id)
        ),
    )
    active = member.is_active if is_active is UNSET else bool(is_active)
    was_admin = member.is_active and any(role.is_admin for role in member.roles)
    stays_admin = active and any(role.is_admin for role in new_roles)
    if (
        was_admin
        and not stays_admin
        and not admins_remaining(session, member.workspace_id, without_membership=member.id)
    ):
        field = "is_active" if not active else "roles"
        raise Conflict(
            "This would leave the workspace without an active administrator; make someone else an "
            "administrator first.",
            errors={field: "last administrator"},
        )
    user.display_name = new_name
    user.email = new_email
    member.roles = list(new_roles)
    member.department = new_dept
    if member.is_active and not active:
        user.auth_epoch = (user.auth_epoch or 0) + 1
    member.is_active = active
    session.flush()
    after = _member_image(member)
    if after != before:
        now = now_or(now)
        action = "deactivate" if before["is_active"] and not active else "update"
        record(session, actor, action, "member", user.id, before=before, after=after, now=now)
        emit(
            session,
            "member.updated",
            payload={"user_id": user.id, "changed": sorted(k for k in after if after[k] != before.get(k))},
            actor=actor,
            now=now,
        )
    return member


def deactivate_member(
    session: Session, actor: Actor, user_id: int, *, now: datetime | None = None
) -> Membership:
    """Take away a member's access to the actor's workspace (their sessions end); see ``update_member``."""
    return update_member(session, actor, user_id, is_active=False, now=now)


def set_user_locale(
    session: Session, actor: Actor, user_id: int, locale: str | None, *, now: datetime | None = None
) -> User:
    """Remember the language a user chose (``None`` = follow the browser). Users change only their own.

    :raises PermissionDenied: someone else's setting. :raises ValidationError: not a locale code.
    """
    if actor.user_id != user_id and not actor.is_system:
        raise PermissionDenied("You may change only your own language.")
    if locale is not None and (not isinstance(locale, str) or not LOCALE_PATTERN.match(locale)):
        raise ValidationError(
            f"{locale!r} is not a language code such as en or zh_CN.",
            errors={"locale": "not a language code"},
        )
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"There is no user {user_id}.")
    if user.locale != locale:
        before = user_view(user)
        user.locale = locale
        session.flush()
        record(
            session, actor, "update", "user", user.id, before=before, after=user_view(user), now=now_or(now)
        )
    return user


def change_password(
    session: Session,
    *,
    user: User,
    current_password: str,
    new_password: str,
    actor: Actor,
    address: str,
    now: datetime | None = None,
    **limits: Unpack[LoginLimits],
) -> User:
    """Replace the user's password; their browser sessions end (auth epoch).

    The current password is checked like a sign-in from ``address`` (``limits``: the
    ``LOGIN_*`` settings, see ``login_limits``): a wrong one is a failed attempt of the
    account, and too many of them refuse every further try for a while.

    :raises PermissionDenied: ``user`` is not the actor.
    :raises RateLimited: too many recent failures for this account or address.
    :raises ValidationError: ``current_password`` is wrong, or the new one breaks the policy.
    """
    if actor.user_id != user.id:
        raise PermissionDenied("You may change only your own password.")
    now = now_or(now)
    verify_current_password(session, user=user, password=current_password, address=address, now=now, **limits)
    return _store_password(
        session, actor, user, new_password, field="new_password", event="user.password_changed", now=now
    )


def _store_password(
    session: Session,
    actor: Actor,
    user: User,
    password: str,
    *,
    field: str,
    event: str,
    now: datetime | None,
    audit: tuple[str, dict[str, Any] | None] = ("password", None),
) -> User:
    """Check ``password`` against the policy, store its hash and end every session of ``user``.

    Writes the audit row (``audit``: its action and after-image) and the ``event``; neither
    ever holds the password or its hash.

    :raises ValidationError: the policy refuses the password (``errors[field]``).
    """
    passwords.check_policy(password, username=user.username, field=field)
    user.password_hash = passwords.hash_password(password)
    user.auth_epoch = (user.auth_epoch or 0) + 1
    session.flush()
    action, after = audit
    log_change(
        session, actor, action, "user", user.id, event=event, payload={"id": user.id}, after=after, now=now
    )
    return user


def password_target(session: Session, actor: Actor, user_id: int) -> User:
    """The user whose password ``actor`` may set without knowing it (``set_password``).

    Workspace administrators may set the passwords of their workspace's members; platform
    superusers and the system (the CLI) anyone's. A password opens every workspace its user
    belongs to, so an administrator of one workspace may not set it for a platform
    superuser or for a member other workspaces share (that would let them act there), and
    nobody sets their own this way: ``change_password`` asks for the current one first.

    :raises PermissionDenied: the actor administers no workspace, or may not set this password.
    :raises NotFound: no user ``user_id`` (for administrators: none in their workspace).
    """
    if actor.is_system or actor.is_superuser:
        found = (
            session.get(User, user_id) if isinstance(user_id, int) and not isinstance(user_id, bool) else None
        )
        if found is None:
            raise NotFound(f"There is no user {user_id}.")
        user = found
    else:
        member = get_member(session, actor, user_id)
        user = member.user
        if user.is_superuser:
            raise PermissionDenied(
                f"{user.username!r} is a platform superuser; only another superuser may set their password.",
                errors={"password": "superuser"},
            )
        if _shared_with_other_workspaces(session, user.id, member.workspace_id):
            raise PermissionDenied(
                f"{user.username!r} also belongs to other workspaces, so only they (or a platform superuser) "
                "may change their password.",
                errors={"password": "shared with other workspaces"},
            )
    if user.id == actor.user_id:
        raise PermissionDenied(
            "Change your own password with your current one (POST /api/v1/me/password).",
            errors={"password": "your own password"},
        )
    return user


def set_password(
    session: Session, actor: Actor, user_id: int, password: str, *, now: datetime | None = None
) -> User:
    """Give user ``user_id`` a new password (an administrator's reset); every browser session of theirs ends.

    The password must meet the same policy as at sign-up. The audit row and the
    ``user.password_reset`` event say who did it, never the password or its hash. API
    tokens stay valid: revoke them apart when the account may be compromised.

    :raises PermissionDenied, NotFound: see ``password_target``.
    :raises ValidationError: the password breaks the policy (``errors["password"]``).
    """
    user = password_target(session, actor, user_id)
    return _store_password(
        session,
        actor,
        user,
        password,
        field="password",
        event="user.password_reset",
        now=now,
        audit=("reset_password", {"username": user.username, "sessions_ended": True}),
    )
