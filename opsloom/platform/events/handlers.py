"""Event handlers: internal subscriptions by glob pattern, plus the plugins' ``opsloom_on_event`` hooks.

A handler is known by a stable *name*; the name is what an ``EventDelivery`` row stores,
so the delivery job can find the function again in another process. Internal handlers
get ``(event, context)`` with a ``HandlerContext`` carrying the job's session, a system
actor bound to the event's workspace, the clock and the app; plugin hooks get only the
event (the hookspec's contract). Both are called at least once per event: be idempotent
by ``event.id``.
"""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opsloom.platform.errors import PluginError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from datetime import datetime

    from flask import Flask
    from sqlalchemy.orm import Session

    from opsloom.platform.actor import Actor

    from .outbox import Event

__all__ = [
    "Handler",
    "HandlerContext",
    "Subscriptions",
    "handlers_for",
    "subscribe",
    "subscriptions",
]

#: prefix of the names of plugin hook handlers (``plugin:<plugin name>``)
PLUGIN_PREFIX = "plugin:"


@dataclass(frozen=True, slots=True)
class HandlerContext:
    """What an internal handler may use; its writes commit together with its delivery row."""

    session: Session
    actor: Actor
    now: datetime
    app: Flask
    job_id: str | None = None


@dataclass(frozen=True, slots=True)
class Handler:
    """One named handler: ``pattern`` is a glob over event types (``record.*``, ``*``)."""

    name: str
    pattern: str
    fn: Callable[..., Any]
    # "subscription" handlers take (event, context); "plugin" handlers take event only
    kind: str = "subscription"

    def matches(self, event_type: str) -> bool:
        return fnmatch.fnmatchcase(event_type, self.pattern)

    def __call__(self, event: Event, context: HandlerContext) -> Any:
        if self.kind == "plugin":
            return self.fn(event=event)
        return self.fn(event, context)


class Subscriptions:
    """Named internal handlers; registration is thread-safe and a name is taken once."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()

    def add(self, pattern: str, name: str, fn: Callable[[Event, HandlerContext], Any]) -> Handler:
        """Register ``fn`` under ``name`` for event types matching ``pattern``.

        Registering the same function again (a module re-import) replaces the entry.
        :raises PluginError: ``name`` already belongs to another function.
        """
        if not name or name.startswith(PLUGIN_PREFIX):
            raise PluginError(f"event handler name {name!r} is empty or reserved for plugins")
        handler = Handler(name=name, pattern=pattern, fn=fn)
        with self._lock:
            current = self._handlers.get(name)
            if current is not None and _qualname(current.fn) != _qualname(fn):
                raise PluginError(
                    f"event handler {name!r} is registered twice ({_qualname(current.fn)} and "
                    f"{_qualname(fn)}); give one of them another name."
                )
            self._handlers[name] = handler
        return handler

    def remove(self, name: str) -> None:
        with self._lock:
            self._handlers.pop(name, None)

    def get(self, name: str) -> Handler | None:
        return self._handlers.get(name)

    def __iter__(self) -> Iterator[Handler]:
        return iter(list(self._handlers.values()))

    def __contains__(self, name: object) -> bool:
        return name in self._handlers


def _qualname(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


#: the process-wide subscriptions; engines subscribe when their plugin module is imported
subscriptions = Subscriptions()


def subscribe(
    pattern: str, name: str | None = None
) -> Callable[[Callable[[Event, HandlerContext], Any]], Callable[[Event, HandlerContext], Any]]:
    """Decorator: deliver events whose type matches the glob ``pattern`` to the function.

    ``name`` (default: the function's dotted path) identifies the handler in delivery rows
    and in the job monitor; keep it stable across releases::

        @subscribe("record.*", "rules.record_trigger")
        def on_record(event: Event, ctx: HandlerContext) -> None: ...
    """

    def decorate(fn: Callable[[Event, HandlerContext], Any]) -> Callable[[Event, HandlerContext], Any]:
        subscriptions.add(pattern, name or _qualname(fn), fn)
        return fn

    return decorate


class HandlerSet:
    """The handlers of one app at one moment: subscriptions plus the loaded plugins' hooks."""

    def __init__(self, handlers: list[Handler]) -> None:
        self.by_name = {h.name: h for h in handlers}
        self._matching: dict[str, list[Handler]] = {}

    def matching(self, event_type: str) -> list[Handler]:
        found = self._matching.get(event_type)
        if found is None:
            found = [h for h in self.by_name.values() if h.matches(event_type)]
            self._matching[event_type] = found
        return found

    def get(self, name: str) -> Handler | None:
        return self.by_name.get(name)


def handlers_for(app: Flask) -> HandlerSet:
    """Every handler ``app`` delivers to: ``subscriptions`` and each plugin's ``opsloom_on_event``."""
    handlers = list(subscriptions)
    host = app.extensions.get("opsloom.plugins")
    if host is not None:
        for impl in host.pm.hook.opsloom_on_event.get_hookimpls():
            handlers.append(
                Handler(name=PLUGIN_PREFIX + impl.plugin_name, pattern="*", fn=impl.function, kind="plugin")
            )
    return HandlerSet(handlers)
