"""What a definition kind is: the contract through which engines plug into the definitions store.

An engine returns ``DefinitionKind`` objects from ``opsloom_register_definition_kinds``.
The store validates every saved draft against ``schema`` (JSON Schema 2020-12) and then
``check`` (semantic rules a schema cannot say); publishing calls ``on_publish`` inside
the publishing transaction, so a failing publish (bad DDL, say) rolls everything back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from datetime import datetime

    from sqlalchemy.orm import Session

    from opsloom.platform.actor import Actor
    from opsloom.platform.models import App, Definition
    from opsloom.platform.registry import Registries

__all__ = ["CheckContext", "DefinitionKind", "PublishContext"]


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What ``check`` may consult: the other definitions of the app (published or draft) and registries."""

    session: Session
    app: App
    registries: Registries
    #: (kind, key) -> body of the newest version (draft if any, else published), for cross-checks
    lookup: Callable[[str, str], dict[str, Any] | None]


@dataclass(frozen=True, slots=True)
class PublishContext:
    """Everything a publish hook gets; it runs in the publishing transaction and must not commit."""

    session: Session
    app: App
    definition: Definition
    previous: Definition | None
    actor: Actor
    now: datetime
    registries: Registries
    #: flags the admin passed to publish, e.g. {"force": True} for destructive schema changes
    options: dict[str, Any] = field(default_factory=dict)
    #: the hook may append human-readable lines ("added column phone") shown in the publish result
    report: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DefinitionKind:
    """A kind of definition (``entity``, ``flow``, ``rule``, ``dashboard``, ``app``)."""

    name: str
    #: the URL segment under ``/apps/{app}/`` (``entities``)
    plural: str
    schema: dict[str, Any]
    label: dict[str, str] = field(default_factory=dict)
    #: semantic checks: yields (JSON pointer, message) pairs
    check: Callable[[dict[str, Any], CheckContext], Iterable[tuple[str, str]]] | None = None
    on_publish: Callable[[PublishContext], None] | None = None
    #: normalises a validated body just before it is stored as the draft (the entity kind gives
    #: new fields their stable ids); gets the body and the app's ``lookup`` (as in CheckContext)
    prepare: Callable[[dict[str, Any], Callable[[str, str], dict[str, Any] | None]], dict[str, Any]] | None = None
    #: import and publish order inside an app package (entities before flows before rules)
    order: int = 100
    #: the body key that must equal the definition key (most kinds keep ``key`` in the body)
    key_field: str | None = "key"
    #: at most one definition per app, whose key is the app's key (the ``app`` settings kind)
    singleton: bool = False
