"""Loading plugins: built-ins first, then the ``opsloom.plugins`` entry points, each isolated.

A plugin that fails to import or whose hooks raise is recorded as failed (shown at
start-up in the log and on the admin plugins page) and unregistered; the platform
keeps serving with the others.
"""

from __future__ import annotations

import importlib
import logging
import traceback
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

import pluggy

from opsloom.plugins import ENTRY_POINT_GROUP, PROJECT, hookspecs

from .registry import HOOK_REGISTRIES, Registries

if TYPE_CHECKING:
    from collections.abc import Iterable

    from flask import Flask

__all__ = ["BUILTIN_PLUGINS", "PluginHost", "PluginStatus", "get_plugin_host"]

log = logging.getLogger("opsloom.plugins")

EXPR_BUILTIN_OWNER = "opsloom.platform.expr"

#: modules of the built-in parts; each registers through the same hooks as third parties.
#: A module that does not exist yet (an engine not installed) is skipped silently.
BUILTIN_PLUGINS = (
    "opsloom.platform.builtin",
    "opsloom.form_engine.plugin",
    "opsloom.flow_engine.plugin",
    "opsloom.rule_engine.plugin",
    "opsloom.report_engine.plugin",
)


@dataclass
class PluginStatus:
    name: str
    source: str  # "builtin", "entry point <dist>", "config"
    ok: bool = True
    error: str = ""
    version: str = ""
    provides: dict[str, list[str]] = field(default_factory=dict)


class PluginHost:
    """The pluggy manager of one app, the plugin statuses and the registries they filled."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.statuses: list[PluginStatus] = []
        self.registries = Registries()
        #: the expression language's operators: built-ins plus the plugins' (built in ``load``)
        self.expr_registry: Any = None

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def load(self, extra: Iterable[Any] = (), *, entry_point_plugins: bool = True) -> None:
        for module_name in BUILTIN_PLUGINS:
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name and module_name.startswith(exc.name):
                    continue
                self._failed(module_name, "builtin", exc)
                continue
            self._register(module, module_name, "builtin")
        for index, plugin in enumerate(extra):
            name = getattr(plugin, "__name__", None) or f"config-plugin-{index}"
            self._register(plugin, name, "config")
        if entry_point_plugins:
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                source = f"entry point {ep.dist.name if ep.dist else '?'}"
                try:
                    plugin = ep.load()
                except Exception as exc:
                    self._failed(ep.name, source, exc)
                    continue
                status = self._register(plugin, ep.name, source)
                if status and ep.dist:
                    status.version = ep.dist.version
        self._seed_builtin_operators()
        self._collect()
        self._build_expr_registry()

    def _seed_builtin_operators(self) -> None:
        """Put the built-in operator names in the registry first, so a plugin reusing one is the one dropped."""
        from .expr.builtins import BUILTIN_OPERATORS

        for op in BUILTIN_OPERATORS:
            self.registries.expr_operators.register(op, owner=EXPR_BUILTIN_OWNER)

    def _build_expr_registry(self) -> None:
        from .expr.builtins import build_registry

        registry = self.registries.expr_operators
        self.expr_registry = build_registry(
            op for name, op in registry.items() if registry.owner(name) != EXPR_BUILTIN_OWNER
        )

    def _register(self, plugin: Any, name: str, source: str) -> PluginStatus | None:
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:
            self._failed(name, source, exc)
            return None
        status = PluginStatus(name=name, source=source)
        self.statuses.append(status)
        return status

    def _failed(self, name: str, source: str, exc: BaseException) -> None:
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        log.error("plugin %s (%s) failed to load and is disabled: %s", name, source, detail)
        self.statuses.append(PluginStatus(name=name, source=source, ok=False, error=detail))

    def _collect(self) -> None:
        """Call every registration hook plugin by plugin, so one bad plugin is dropped alone."""
        for status in list(self.statuses):
            if not status.ok:
                continue
            plugin = self.pm.get_plugin(status.name)
            staged: list[tuple[str, Any]] = []
            try:
                for hook_name, registry_name in HOOK_REGISTRIES.items():
                    impl = getattr(plugin, hook_name, None)
                    if impl is None:
                        continue
                    for entry in impl() or ():
                        staged.append((registry_name, entry))
                for registry_name, entry in staged:
                    registry = getattr(self.registries, registry_name)
                    registry.register(entry, owner=status.name)
                    status.provides.setdefault(registry_name, []).append(
                        getattr(entry, "name", repr(entry))
                    )
            except Exception as exc:
                self._unregister_failed(status, exc, staged)

    def _unregister_failed(self, status: PluginStatus, exc: BaseException, staged: list[tuple[str, Any]]) -> None:
        # drop whatever part of this plugin made it into the registries
        for registry_name, entry in staged:
            registry = getattr(self.registries, registry_name)
            name = getattr(entry, "name", None)
            if name in registry and registry.owner(name) == status.name:
                registry._entries.pop(name, None)
                registry._owners.pop(name, None)
        self.pm.unregister(name=status.name)
        status.ok = False
        status.provides = {}
        status.error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        log.error("plugin %s failed while registering and is disabled: %s", status.name, status.error)

    def blueprints(self) -> list[tuple[str, Any]]:
        """(plugin name, blueprint) for every blueprint the loaded plugins offer."""
        found: list[tuple[str, Any]] = []
        for status in self.statuses:
            if not status.ok:
                continue
            plugin = self.pm.get_plugin(status.name)
            impl = getattr(plugin, "opsloom_register_blueprints", None)
            if impl is None:
                continue
            try:
                found.extend((status.name, bp) for bp in impl() or ())
            except Exception as exc:
                self._unregister_failed(status, exc, [])
        return found


def get_plugin_host(app: Flask | None = None) -> PluginHost:
    if app is None:
        from flask import current_app

        app = current_app._get_current_object()  # type: ignore[attr-defined]
    return app.extensions["opsloom.plugins"]
