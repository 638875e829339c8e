"""Registries of self-describing types (definition kinds, field types, actions, ...), frozen once serving."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .errors import PluginError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["Registries", "Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> entry map; a second entry under one name is a ``PluginError``; frozen after start-up."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._entries: dict[str, T] = {}
        self._owners: dict[str, str] = {}
        self._frozen = False

    def register(self, entry: T, *, owner: str = "", name: str | None = None) -> None:
        key = name or getattr(entry, "name", None)
        if not isinstance(key, str) or not key:
            raise PluginError(f"{owner or 'a plugin'} registered a {self.what} without a name: {entry!r}")
        if self._frozen:
            raise PluginError(f"the {self.what} registry is frozen; register {key!r} through a plugin hook")
        if key in self._entries:
            raise PluginError(
                f"{self.what} {key!r} is registered twice ({self._owners[key] or 'built-in'} "
                f"and {owner or 'built-in'}); rename one of them."
            )
        self._entries[key] = entry
        self._owners[key] = owner

    def freeze(self) -> None:
        self._frozen = True

    def get(self, name: str) -> T | None:
        return self._entries.get(name)

    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())

    def values(self) -> list[T]:
        return list(self._entries.values())

    def owner(self, name: str) -> str:
        return self._owners.get(name, "")


#: hook name -> attribute of ``Registries`` it fills
HOOK_REGISTRIES = {
    "opsloom_register_definition_kinds": "definition_kinds",
    "opsloom_register_field_types": "field_types",
    "opsloom_register_actions": "actions",
    "opsloom_register_triggers": "triggers",
    "opsloom_register_metric_functions": "metric_functions",
    "opsloom_register_widgets": "widgets",
    "opsloom_register_channels": "channels",
    "opsloom_register_expr_operators": "expr_operators",
    "opsloom_register_timeline_sources": "timeline_sources",
}


@dataclass
class Registries:
    """Every registry of one app; built by the plugin host, read by the engines."""

    definition_kinds: Registry[Any] = field(default_factory=lambda: Registry("definition kind"))
    field_types: Registry[Any] = field(default_factory=lambda: Registry("field type"))
    actions: Registry[Any] = field(default_factory=lambda: Registry("action"))
    triggers: Registry[Any] = field(default_factory=lambda: Registry("trigger"))
    metric_functions: Registry[Any] = field(default_factory=lambda: Registry("metric function"))
    widgets: Registry[Any] = field(default_factory=lambda: Registry("widget"))
    channels: Registry[Any] = field(default_factory=lambda: Registry("channel"))
    expr_operators: Registry[Any] = field(default_factory=lambda: Registry("expression operator"))
    timeline_sources: Registry[Any] = field(default_factory=lambda: Registry("timeline source"))

    def freeze(self) -> None:
        for name in HOOK_REGISTRIES.values():
            getattr(self, name).freeze()
