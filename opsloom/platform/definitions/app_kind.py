"""The ``app`` definition kind: an app's own settings (label, icon, default locale, navigation).

The ``apps`` row is the app's identity (key, label, archived); the ``app`` definition (key
= the app key) holds its settings. Publishing one copies label, description and icon to
the row, so the navigation shows what was published. It is registered by the platform's
built-in plugin and published last in a package (``order``), so that its navigation can
point at the entities, flows and dashboards published before it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .kinds import DefinitionKind
from .validation import IDENTIFIER_PATTERN

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .kinds import CheckContext, PublishContext

__all__ = ["APP_KIND", "LABEL_SCHEMA"]

IDENTIFIER_SCHEMA: dict[str, Any] = {"type": "string", "pattern": IDENTIFIER_PATTERN}

#: free text, or one text per locale: {"zh": "客户", "en": "Customer"}
LABEL_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"type": "string", "minLength": 1, "maxLength": 200},
        {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": "^[a-z]{2}([_-][A-Za-z]{2,4})?$"},
            "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 200},
        },
    ]
}

_NAV_ITEM: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind", "key"],
    "properties": {
        "kind": IDENTIFIER_SCHEMA,
        "key": IDENTIFIER_SCHEMA,
        "label": LABEL_SCHEMA,
        "icon": {"type": "string", "maxLength": 40},
    },
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "opsloom app settings",
    "type": "object",
    "additionalProperties": False,
    "required": ["key", "label"],
    "properties": {
        "key": IDENTIFIER_SCHEMA,
        "label": LABEL_SCHEMA,
        "description": {"type": "string", "maxLength": 2000},
        "icon": {"type": "string", "maxLength": 40},
        "color": {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"},
        "default_locale": {"enum": ["en", "zh_CN"]},
        # the app's menu, in order: entities, dashboards, flows ... by kind name and key
        "navigation": {"type": "array", "maxItems": 200, "items": _NAV_ITEM},
        # what opens first: one of the navigation items
        "home": {
            "type": "object",
            "additionalProperties": False,
            "required": ["kind", "key"],
            "properties": {"kind": IDENTIFIER_SCHEMA, "key": IDENTIFIER_SCHEMA},
        },
    },
}


def _check(body: dict[str, Any], context: CheckContext) -> Iterator[tuple[str, str]]:
    """Navigation items must be distinct and name definitions that exist in the app (draft or published)."""
    seen: set[tuple[str, str]] = set()
    for i, item in enumerate(body.get("navigation", [])):
        ref = (item["kind"], item["key"])
        if ref in seen:
            yield f"/navigation/{i}", f"{item['kind']} {item['key']!r} is already in the navigation"
            continue
        seen.add(ref)
        if item["kind"] not in context.registries.definition_kinds or item["kind"] == "app":
            yield f"/navigation/{i}/kind", f"unknown definition kind {item['kind']!r}"
        elif context.lookup(item["kind"], item["key"]) is None:
            yield f"/navigation/{i}/key", f"this app has no {item['kind']} {item['key']!r}"
    home = body.get("home")
    if home is not None and (home["kind"], home["key"]) not in seen:
        yield "/home", "must be one of the navigation items"


def _on_publish(context: PublishContext) -> None:
    """Show the published label, description and icon in the app list and navigation."""
    body = context.definition.body
    row = context.app
    row.label = body["label"]
    row.description = body.get("description", "")
    row.icon = body.get("icon", "")
    row.updated_at = context.now


APP_KIND = DefinitionKind(
    name="app",
    plural="app",
    schema=SCHEMA,
    label={"en": "App settings", "zh": "应用设置"},
    check=_check,
    on_publish=_on_publish,
    order=1000,
    singleton=True,
)
