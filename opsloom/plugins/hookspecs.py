"""The plugin contract: every hook opsloom calls, as documented pluggy hookspecs.

This module imports nothing of opsloom; it is the bottom of the dependency order
(``plugins (hookspecs only) <- platform <- engines``). Registration hooks *return*
what they add (a list of self-describing objects); the platform collects the lists
into frozen registries at start-up, so a plugin never touches engine internals.
Built-in parts register through these same hooks (``opsloom.plugins.builtin``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from collections.abc import Iterable

    from flask import Blueprint

PROJECT = "opsloom"
ENTRY_POINT_GROUP = "opsloom.plugins"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def opsloom_register_definition_kinds() -> Iterable[Any]:
    """Definition kinds this plugin adds (``entity``, ``flow``, ``rule``, ...).

    :return: ``opsloom.platform.definitions.DefinitionKind`` instances: a name, the
        URL segment, a JSON Schema meta-schema, and the publish hook that runs in the
        publishing transaction.
    """


@hookspec
def opsloom_register_field_types() -> Iterable[Any]:
    """Field types for entity definitions (JSON Schema fragment, SQL type, coercion, widget)."""


@hookspec
def opsloom_register_actions() -> Iterable[Any]:
    """Actions that rules and flow ``action`` nodes can run (``notify``, ``webhook``, ...)."""


@hookspec
def opsloom_register_triggers() -> Iterable[Any]:
    """Rule trigger types (record events, schedule, date, flow events, webhook)."""


@hookspec
def opsloom_register_metric_functions() -> Iterable[Any]:
    """Metric functions for dashboards (``count``, ``nps``, ``rfm``, ...), each compiling to SQL."""


@hookspec
def opsloom_register_widgets() -> Iterable[Any]:
    """Dashboard widget types (number, line, bar, gauge, ...)."""


@hookspec
def opsloom_register_channels() -> Iterable[Any]:
    """Notification channels for the ``notify`` action (email, in-app, SMS, IM)."""


@hookspec
def opsloom_register_expr_operators() -> Iterable[Any]:
    """Operators for the expression language.

    :return: ``opsloom.platform.expr.Operator`` instances (name, Python function,
        optional SQL form and type signature). A name registered twice is an error.
    """


@hookspec
def opsloom_register_timeline_sources() -> Iterable[Any]:
    """Timeline sources: entries shown on a record's 360° view (``GET .../records/{entity}/{id}/timeline``).

    :return: objects with a ``name`` (unique), a ``kind`` (what their entries are, e.g.
        ``flow_step``; the API's ``kinds=`` filter uses it) and
        ``entries(service, model, record_id, before, limit)`` returning at most ``limit``
        ``TimelineEntry`` objects strictly older than ``before`` (a ``TimelinePosition``,
        None for the first page), newest first. See ``opsloom.plugins.api``.
    """


@hookspec
def opsloom_register_blueprints() -> Iterable[Blueprint]:
    """Flask blueprints (API or pages) to mount; API blueprints under ``/api/v1``."""


@hookspec
def opsloom_on_event(event: Any) -> None:
    """Called once per delivered domain event (at least once; be idempotent by ``event.id``).

    :param event: ``opsloom.platform.events.Event`` with ``id``, ``type``,
        ``workspace_id``, ``payload`` and ``created_at``.
    """
