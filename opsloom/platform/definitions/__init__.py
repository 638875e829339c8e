"""The definitions registry: apps, drafts and immutable published versions of every kind, app packages.

Engines plug in a kind (``DefinitionKind``) through ``opsloom_register_definition_kinds``;
pages, the API and the CLI call the service functions re-exported here.
"""

from __future__ import annotations

from .diff import diff
from .kinds import CheckContext, DefinitionKind, PublishContext
from .packages import PACKAGE_FORMAT, export_app, import_package, validate_package
from .service import (
    DefinitionSummary,
    PublishResult,
    archive_app,
    checksum,
    create_app_,
    diff_versions,
    discard_draft,
    get_app,
    get_definition,
    history,
    kind_for_url,
    kind_named,
    latest_published,
    list_apps,
    list_definitions,
    publish,
    rename_app,
    restore_app,
    save_draft,
    update_app,
)
from .validation import validate_body

__all__ = [
    "PACKAGE_FORMAT",
    "CheckContext",
    "DefinitionKind",
    "DefinitionSummary",
    "PublishContext",
    "PublishResult",
    "archive_app",
    "checksum",
    "create_app_",
    "diff",
    "diff_versions",
    "discard_draft",
    "export_app",
    "get_app",
    "get_definition",
    "history",
    "import_package",
    "kind_for_url",
    "kind_named",
    "latest_published",
    "list_apps",
    "list_definitions",
    "publish",
    "rename_app",
    "restore_app",
    "save_draft",
    "update_app",
    "validate_body",
    "validate_package",
]
