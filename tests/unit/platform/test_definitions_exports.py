"""The definitions part's public face (STYLE habit 4) and its place in the dependency order."""

from __future__ import annotations

import ast
import importlib
import inspect
import pathlib
import pkgutil
import re
import types
from typing import Any

import opsloom.platform.definitions as definitions

FACE = definitions.__name__


def _own_doc(obj: Any) -> str:
    """The docstring ``obj`` itself has (a class's, not one inherited from its bases)."""
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
    return (doc or "").strip()


def _where_assigned(name: str) -> tuple[types.ModuleType, list[str], int]:
    """The submodule that assigns the constant ``name``, its source lines and the assignment's index."""
    for info in pkgutil.iter_modules(definitions.__path__):
        module = importlib.import_module(f"{FACE}.{info.name}")
        lines = inspect.getsource(module).splitlines()
        for index, line in enumerate(lines):
            if re.match(rf"{name}\b[^=]*=", line):
                return module, lines, index
    raise AssertionError(f"no submodule of {FACE} assigns {name}")


def test_all_is_sorted_without_duplicates() -> None:
    names = definitions.__all__
    assert len(set(names)) == len(names)
    # constants first, then classes and functions (ruff's isort-style order, as the file keeps it)
    assert names == sorted(names, key=lambda n: (not n.isupper(), n))


def test_the_face_exports_exactly_what_it_imports() -> None:
    """A name imported into ``__init__`` but missing from ``__all__`` (or the reverse) is a mistake."""
    public = {
        name
        for name, value in vars(definitions).items()
        # submodules and ``from __future__ import annotations`` are not part of the face
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and type(value).__module__ != "__future__"
    }
    assert public == set(definitions.__all__)


def test_every_exported_name_is_importable_and_documented() -> None:
    for name in definitions.__all__:
        value = getattr(importlib.import_module(FACE), name)
        assert value is not None, name
        if inspect.isclass(value) or inspect.isfunction(value):
            # re-exported from the part's own modules, never from elsewhere
            assert value.__module__.startswith(FACE + "."), f"{name} comes from {value.__module__}"
            assert _own_doc(value), f"{FACE}.{name} has no docstring"
        else:
            # a constant: a ``#:`` comment on it, or its value spelled out in its module's docstring
            module, lines, index = _where_assigned(name)
            documented = (index > 0 and lines[index - 1].lstrip().startswith("#:")) or (
                str(value) in (module.__doc__ or "")
            )
            assert documented, f"{FACE}.{name} = {value!r} is documented nowhere"


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
