"""Sections an engine adds to an app's page (``/apps/<app>``) without the platform importing the engine.

An engine's page blueprint registers a *provider* when it is mounted::

    bp.record_once(lambda state: register_app_section(state.app, my_provider))

A provider is called as ``provider(session, actor, app)`` while the app page renders and
returns an ``AppSection`` (or None to show nothing, e.g. when the actor may see none of
its links). The form engine lists the entities whose records the actor may read; the
flow and report engines can list flows and dashboards the same way. A provider that
fails is logged and left out: one broken engine must not take the app page down.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from flask import Flask
    from sqlalchemy.orm import Session

    from opsloom.platform.actor import Actor
    from opsloom.platform.models import App

__all__ = ["AppLink", "AppSection", "app_sections", "register_app_section"]

log = logging.getLogger("opsloom.web")

EXTENSION = "opsloom.app_sections"


@dataclass(frozen=True, slots=True)
class AppLink:
    """One entry of a section: a label (plain text or per-locale dict), where it goes, a short note."""

    label: Any
    url: str
    note: str = ""
    testid: str = ""


@dataclass(frozen=True, slots=True)
class AppSection:
    """A titled list of links on the app page; ``order`` sorts sections (lower first)."""

    title: str
    links: list[AppLink] = field(default_factory=list)
    order: int = 100
    empty: str = ""


def register_app_section(app: Flask, provider: Callable[[Session, Actor, App], AppSection | None]) -> None:
    """Add ``provider`` to the app page of ``app`` (call it once, when the engine's blueprint is mounted)."""
    app.extensions.setdefault(EXTENSION, []).append(provider)


def app_sections(flask_app: Flask, session: Session, actor: Actor, app: App) -> list[AppSection]:
    """Every provider's section for ``app``, by ``order``."""
    found: list[AppSection] = []
    for provider in flask_app.extensions.get(EXTENSION, []):
        try:
            section = provider(session, actor, app)
        except Exception:
            log.exception("the app-page section provider %r failed; leaving it out", provider)
            continue
        if section is not None:
            found.append(section)
    return sorted(found, key=lambda section: section.order)
