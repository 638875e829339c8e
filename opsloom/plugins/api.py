"""The stable API for plugin authors: every opsloom name a plugin may import, in one module.

A plugin imports from here (and from Flask, SQLAlchemy, marshmallow as it likes), never
from ``opsloom.platform`` or an engine package: those are internals and may be
reorganised in any release. Grouped by what a plugin does::

    hook implementations      hookimpl, ENTRY_POINT_GROUP
    definition kinds          DefinitionKind, CheckContext, PublishContext
    expression operators      Operator
    who is acting             Actor, SYSTEM
    domain events (outbox)    Event, emit
    audit log                 record_audit
    jobs and periodic tasks   job, JobContext, periodic, TaskContext
    a record's 360° timeline  TimelineSource, TimelineEntry, TimelinePosition
    field types               FieldType, FieldContext, FieldReference, FieldValueError, SchemaContext
    errors to raise           OpsloomError and its subclasses (drawn in ``opsloom.platform.errors``)

**Stability promise.** Within a 0.x minor series (0.1.0, 0.1.1, ...) names are only
*added* here, never removed, renamed or given an incompatible signature. A name that has
to go is first marked deprecated (it keeps working and warns with ``DeprecationWarning``)
for at least one minor release, and its replacement is listed in the changelog. The
fields of the dataclasses exported here follow the same rule: new fields get defaults.
``tests/unit/plugins/test_plugin_api.py`` pins ``__all__`` so that a removal cannot slip
through unnoticed.

Import direction: the platform never imports this module (``opsloom.plugins`` itself holds
only the hookspecs, below the platform in the dependency order), so importing it cannot
create a cycle; it is also not imported by ``opsloom.plugins.__init__``, so loading the
hookspecs stays free of the platform. ``InvalidCursor`` is left out on purpose: it belongs
to the platform's pagination, which plugins do not implement.
"""

from __future__ import annotations

from opsloom.form_engine.fields.base import (
    FieldContext,
    FieldReference,
    FieldType,
    FieldValueError,
    SchemaContext,
)
from opsloom.form_engine.timeline import TimelineEntry, TimelinePosition, TimelineSource
from opsloom.platform.actor import SYSTEM, Actor
from opsloom.platform.audit import record as record_audit
from opsloom.platform.definitions.kinds import CheckContext, DefinitionKind, PublishContext
from opsloom.platform.errors import (
    AuthenticationRequired,
    BadRequest,
    Conflict,
    ExprError,
    NotFound,
    OpsloomError,
    PermissionDenied,
    PluginError,
    RateLimited,
    ValidationError,
)
from opsloom.platform.events import Event, emit
from opsloom.platform.expr import Operator
from opsloom.platform.jobs import JobContext, TaskContext, job, periodic

from .hookspecs import ENTRY_POINT_GROUP, hookimpl

__all__ = [
    "ENTRY_POINT_GROUP",
    "SYSTEM",
    "Actor",
    "AuthenticationRequired",
    "BadRequest",
    "CheckContext",
    "Conflict",
    "DefinitionKind",
    "Event",
    "ExprError",
    "FieldContext",
    "FieldReference",
    "FieldType",
    "FieldValueError",
    "JobContext",
    "NotFound",
    "Operator",
    "OpsloomError",
    "PermissionDenied",
    "PluginError",
    "PublishContext",
    "RateLimited",
    "SchemaContext",
    "TaskContext",
    "TimelineEntry",
    "TimelinePosition",
    "TimelineSource",
    "ValidationError",
    "emit",
    "hookimpl",
    "job",
    "periodic",
    "record_audit",
]
