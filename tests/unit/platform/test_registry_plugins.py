"""The plugin host: built-ins and third parties register through the same hooks; a bad plugin is isolated."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from opsloom.platform.errors import PluginError
from opsloom.platform.plugin_host import PluginHost
from opsloom.platform.registry import Registry
from opsloom.plugins import hookimpl


@dataclass(frozen=True)
class Thing:
    name: str


def test_registry_refuses_duplicates_and_late_entries() -> None:
    registry: Registry[Thing] = Registry("thing")
    registry.register(Thing("a"), owner="one")
    with pytest.raises(PluginError, match="registered twice"):
        registry.register(Thing("a"), owner="two")
    registry.freeze()
    with pytest.raises(PluginError, match="frozen"):
        registry.register(Thing("b"))
    assert list(registry) == ["a"]
    assert registry.owner("a") == "one"


def test_registry_requires_a_name() -> None:
    with pytest.raises(PluginError, match="without a name"):
        Registry("thing").register(SimpleNamespace())


class GoodPlugin:
    __name__ = "good"

    @hookimpl
    def opsloom_register_actions(self) -> list[Thing]:
        return [Thing("ping")]

    @hookimpl
    def opsloom_register_widgets(self) -> list[Thing]:
        return [Thing("sparkline")]


class BrokenPlugin:
    __name__ = "broken"

    @hookimpl
    def opsloom_register_widgets(self) -> list[Thing]:
        return [Thing("gauge2")]

    @hookimpl
    def opsloom_register_actions(self) -> list[Thing]:
        raise RuntimeError("boom")


class ClashingPlugin:
    __name__ = "clashing"

    @hookimpl
    def opsloom_register_actions(self) -> list[Thing]:
        return [Thing("ping")]


def test_builtin_app_kind_is_registered_through_the_hooks() -> None:
    host = PluginHost()
    host.load(entry_point_plugins=False)
    assert "app" in host.registries.definition_kinds
    builtin = next(s for s in host.statuses if s.name == "opsloom.platform.builtin")
    assert builtin.ok
    assert builtin.source == "builtin"
    assert "app" in builtin.provides["definition_kinds"]


def test_a_failing_plugin_is_dropped_whole_and_reported() -> None:
    host = PluginHost()
    host.load([GoodPlugin(), BrokenPlugin()], entry_point_plugins=False)
    statuses = {s.name: s for s in host.statuses}
    assert statuses["good"].ok
    assert not statuses["broken"].ok
    assert "boom" in statuses["broken"].error
    # nothing of the broken plugin stays registered, not even what it returned before failing
    assert "gauge2" not in host.registries.widgets
    assert "sparkline" in host.registries.widgets
    assert "ping" in host.registries.actions


def test_a_duplicate_name_disables_the_second_plugin() -> None:
    host = PluginHost()
    host.load([GoodPlugin(), ClashingPlugin()], entry_point_plugins=False)
    statuses = {s.name: s for s in host.statuses}
    assert statuses["good"].ok
    assert not statuses["clashing"].ok
    assert "registered twice" in statuses["clashing"].error
    assert host.registries.actions.owner("ping") == "good"


def test_an_entry_point_that_fails_to_import_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeEntryPoint:
        name = "exploding"
        dist = SimpleNamespace(name="opsloom-exploding", version="1.0")

        def load(self) -> object:
            raise ImportError("No module named 'exploding_dependency'")

    monkeypatch.setattr("opsloom.platform.plugin_host.entry_points", lambda group: [FakeEntryPoint()])
    host = PluginHost()
    host.load(entry_point_plugins=True)
    status = next(s for s in host.statuses if s.name == "exploding")
    assert not status.ok
    assert "exploding_dependency" in status.error
    assert status.source == "entry point opsloom-exploding"


class OperatorPlugin:
    __name__ = "operators"

    @hookimpl
    def opsloom_register_expr_operators(self) -> list[object]:
        from opsloom.platform.expr import Operator

        return [Operator(name="vip_discount", fn=lambda amount: amount * 0.9, min_args=1, max_args=1,
                         params=("number",), returns="number")]


class ShadowingOperatorPlugin:
    __name__ = "shadowing"

    @hookimpl
    def opsloom_register_expr_operators(self) -> list[object]:
        from opsloom.platform.expr import Operator

        return [Operator(name="if", fn=lambda *args: None)]


def test_plugin_operators_reach_the_expression_language() -> None:
    from opsloom.platform.expr import compile as compile_expr

    host = PluginHost()
    host.load([OperatorPlugin()], entry_point_plugins=False)
    check = compile_expr({"vip_discount": [{"var": "amount"}]}, registry=host.expr_registry)
    assert check({"amount": 100}) == 90


def test_a_plugin_cannot_replace_a_builtin_operator() -> None:
    host = PluginHost()
    host.load([ShadowingOperatorPlugin(), OperatorPlugin()], entry_point_plugins=False)
    statuses = {s.name: s for s in host.statuses}
    assert not statuses["shadowing"].ok
    assert "registered twice" in statuses["shadowing"].error
    assert statuses["operators"].ok
    assert host.expr_registry.get("vip_discount") is not None
