"""The definitions part's public face (STYLE habit 4) and its place in the dependency order."""

from __future__ import annotations

import ast
import pathlib

import opsloom.platform.definitions as definitions


def test_public_face() -> None:
    assert set(definitions.__all__) == {
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
    }
    for name in definitions.__all__:
        assert getattr(definitions, name) is not None


def test_services_never_import_flask() -> None:
    """Services run in requests, jobs and the CLI: only ``api.py`` and ``commands.py`` may touch the edge."""
    folder = pathlib.Path(definitions.__file__).parent
    for path in folder.glob("*.py"):
        if path.name in {"api.py", "commands.py"}:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(("flask", "click")), f"{path.name} imports {name}"


def test_checksum_is_canonical() -> None:
    assert definitions.checksum({"b": 1, "a": [1, "客"]}) == definitions.checksum({"a": [1, "客"], "b": 1})
    assert definitions.checksum({"a": 1}) != definitions.checksum({"a": True})
