"""The platform's own plugin: the ``app`` definition kind and the platform's blueprints.

Registered through the same hooks as third-party plugins (``plugin_host.BUILTIN_PLUGINS``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opsloom.plugins import hookimpl

if TYPE_CHECKING:
    from collections.abc import Iterable

name = "opsloom.platform"


@hookimpl
def opsloom_register_definition_kinds() -> Iterable[Any]:
    from .definitions.app_kind import APP_KIND

    return [APP_KIND]


@hookimpl
def opsloom_register_blueprints() -> Iterable[Any]:
    from .audit_api import blp as audit_api
    from .auth.api import blp as auth_api
    from .definitions.api import blp as definitions_api
    from .jobs.api import blp as jobs_api
    from .web.views import bp as web_pages

    return [auth_api, definitions_api, audit_api, jobs_api, web_pages]
