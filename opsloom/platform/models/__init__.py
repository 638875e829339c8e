"""The platform's own tables as typed SQLAlchemy 2 models (entity tables are Core, elsewhere)."""

from __future__ import annotations

from .apps import App, Definition
from .audit import AuditEntry
from .events import EventDelivery, OutboxEvent, SchedulerRun
from .identity import (
    ApiToken,
    Department,
    LoginAttempt,
    Membership,
    Role,
    User,
    Workspace,
    membership_roles,
)

__all__ = [
    "ApiToken",
    "App",
    "AuditEntry",
    "Definition",
    "Department",
    "EventDelivery",
    "LoginAttempt",
    "Membership",
    "OutboxEvent",
    "Role",
    "SchedulerRun",
    "User",
    "Workspace",
    "membership_roles",
]
