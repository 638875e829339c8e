"""Who is acting: the explicit context every service receives (never read from globals)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["SYSTEM", "Actor"]


@dataclass(frozen=True, slots=True)
class Actor:
    """A user acting in one workspace, or the system (``user_id`` None) in jobs and the CLI.

    ``request_id`` and ``address`` travel with the actor so the audit log can say where a
    change came from without reaching into the request.
    """

    user_id: int | None
    username: str
    workspace_id: int | None = None
    display_name: str = ""
    membership_id: int | None = None
    role_ids: frozenset[int] = field(default_factory=frozenset)
    role_keys: frozenset[str] = field(default_factory=frozenset)
    department_id: int | None = None
    # workspace administrator (a role with is_admin) or platform superuser
    is_admin: bool = False
    is_superuser: bool = False
    locale: str | None = None
    timezone: str = "Asia/Shanghai"
    request_id: str | None = None
    address: str | None = None
    # how the actor authenticated: "session", "token", "cli", "job", "system"
    via: str = "system"
    # the workspace's ``definitions_version`` read when the actor was made (None: not read),
    # so caches of what definitions imply can be checked without another query
    definitions_version: int | None = None

    @property
    def is_system(self) -> bool:
        return self.user_id is None

    def in_workspace(self, workspace_id: int) -> Actor:
        """The same system actor bound to ``workspace_id`` (jobs act per workspace)."""
        from dataclasses import replace

        return replace(self, workspace_id=workspace_id)

    def as_expr_user(self) -> dict[str, object]:
        """The ``_user`` value expressions see."""
        return {
            "id": self.user_id,
            "username": self.username,
            "name": self.display_name or self.username,
            "roles": sorted(self.role_keys),
            "department": self.department_id,
            "is_admin": self.is_admin,
        }


SYSTEM = Actor(user_id=None, username="system", display_name="system", is_admin=True, via="system")
