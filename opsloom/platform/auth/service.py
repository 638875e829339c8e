"""Identity services in one place: workspaces, users and members, roles, departments, tokens, sign-in.

The functions live in one module per subject (``workspaces``, ``users``, ``roles``,
``departments``, ``tokens``, ``login``, ``actors``); this module is the face callers
import (``from opsloom.platform.auth import service as identity``). Every function takes
the session (and, for changes, the actor and ``now``) explicitly, never imports Flask,
never commits, writes the audit log and emits domain events for each change, and scopes
every lookup to the actor's workspace: another workspace's object is ``NotFound``.
"""

from __future__ import annotations

from ._common import UNSET
from .actors import actor_for
from .departments import (
    as_tree,
    create_department,
    delete_department,
    get_department,
    list_departments,
    update_department,
)
from .login import (
    LoginLimits,
    authenticate_password,
    keep_failed_attempts,
    login_limits,
    retry_after,
    verify_current_password,
)
from .roles import create_role, delete_role, get_role, list_roles, update_role
from .tokens import authenticate_token, issue_token, list_tokens, revoke_token, token_status
from .users import (
    add_member,
    change_password,
    create_member,
    create_user,
    deactivate_member,
    get_member,
    list_members,
    normalize_username,
    password_target,
    set_password,
    set_user_locale,
    update_member,
)
from .workspaces import (
    create_workspace,
    default_workspace,
    ensure_workspace,
    get_workspace_for,
    list_workspaces,
    workspaces_of,
)

__all__ = [
    "UNSET",
    "LoginLimits",
    "actor_for",
    "add_member",
    "as_tree",
    "authenticate_password",
    "authenticate_token",
    "change_password",
    "create_department",
    "create_member",
    "create_role",
    "create_user",
    "create_workspace",
    "deactivate_member",
    "default_workspace",
    "delete_department",
    "delete_role",
    "ensure_workspace",
    "get_department",
    "get_member",
    "get_role",
    "get_workspace_for",
    "issue_token",
    "keep_failed_attempts",
    "list_departments",
    "list_members",
    "list_roles",
    "list_tokens",
    "list_workspaces",
    "login_limits",
    "normalize_username",
    "password_target",
    "retry_after",
    "revoke_token",
    "set_password",
    "set_user_locale",
    "token_status",
    "update_department",
    "update_member",
    "update_role",
    "verify_current_password",
    "workspaces_of",
]
