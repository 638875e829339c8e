"""The package's public face and its purity: ``__all__``, import rules, the operator registry."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import opsloom.platform.expr as expr_package
from opsloom.platform.errors import ExprError as RootExprError
from opsloom.platform.expr import (
    ExprError,
    Operator,
    OperatorRegistry,
    build_registry,
    default_registry,
    evaluate,
    infer_type,
    parse_formula,
    to_formula,
)

PACKAGE = Path(expr_package.__file__).parent

EXPECTED_ALL = [
    "DEFAULT_LIMITS",
    "Compiled",
    "ExprError",
    "ExprEvalError",
    "ExprLimitError",
    "ExprParseError",
    "ExprTypeError",
    "ExprUnknownOperatorError",
    "Limits",
    "Operator",
    "OperatorRegistry",
    "SqlResolver",
    "ValueResolver",
    "build_registry",
    "compile",
    "default_registry",
    "evaluate",
    "free_vars",
    "infer_type",
    "normalize",
    "parse_formula",
    "to_formula",
    "to_sql",
]
ALLOWED_THIRD_PARTY = {"lark", "re2", "dateutil", "sqlalchemy"}
FORBIDDEN_STDLIB = {
    "socket",
    "http",
    "urllib",
    "subprocess",
    "smtplib",
    "sqlite3",
    "asyncio",
    "threading",
    "multiprocessing",
    "shutil",
    "tempfile",
    "logging",
    "pickle",
    "ctypes",
    "os",
    "io",
    "builtins",
}


def test_all_is_sorted_and_exact() -> None:
    assert expr_package.__all__ == sorted(expr_package.__all__, key=lambda n: (not n.isupper(), n))
    assert sorted(expr_package.__all__) == sorted(EXPECTED_ALL)
    for name in expr_package.__all__:
        assert hasattr(expr_package, name), name


def test_errors_are_one_tree() -> None:
    assert ExprError is RootExprError
    for name in expr_package.__all__:
        if name.startswith("Expr"):
            assert issubclass(getattr(expr_package, name), RootExprError)


def _imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level))
    return found


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_pure_imports(path: Path) -> None:
    for module, level in _imports(path):
        if level:
            continue  # inside the package
        root = module.split(".")[0]
        if module == "opsloom.platform.errors":
            continue
        assert root != "opsloom", f"{path.name} imports {module}: only opsloom.platform.errors is allowed"
        assert root not in {"flask", "werkzeug", "jinja2", "requests", "redis", "rq", "psycopg"}, module
        if root == "sqlalchemy":
            assert path.name == "sql.py", f"{path.name} imports sqlalchemy; only sql.py may"
            continue
        if root in ALLOWED_THIRD_PARTY:
            continue
        assert root in sys.stdlib_module_names, f"{path.name} imports third-party {module}"
        assert root not in FORBIDDEN_STDLIB, f"{path.name} imports {module} (I/O or global state)"


def test_no_eval_or_attribute_access_from_data() -> None:
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in {"eval", "exec", "__import__", "compile", "setattr"}, path.name
                if node.func.id == "getattr":
                    # Only fixed attribute names, or dispatch on the package's own tables.
                    name = node.args[1]
                    assert isinstance(name, ast.Constant) or path.name in {
                        "compiler.py",
                        "sql.py",
                        "dates.py",
                    }, f"{path.name}: getattr with a computed name"


# ------------------------------------------------------------------ registry and plugins


def _vat(amount: object) -> object:
    return None if amount is None else float(amount) * 0.13  # type: ignore[arg-type]


VAT = Operator("vat", _vat, 1, 1, ("number",), "number", summary="value-added tax", formula="VAT")


def test_plugin_operators() -> None:
    registry = build_registry([VAT])
    assert registry.frozen
    assert evaluate({"vat": [100]}, registry=registry) == 13.0
    assert parse_formula("VAT(amount) > 10", registry=registry) == {">": [{"vat": [{"var": "amount"}]}, 10]}
    assert to_formula({"vat": [{"var": "amount"}]}, registry=registry) == "VAT(amount)"
    assert infer_type({"vat": [{"var": "amount"}]}, {"amount": "number"}, registry=registry) == "number"
    with pytest.raises(ExprError, match="unknown operator"):
        evaluate({"vat": [100]})


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ExprError, match="already registered"):
        build_registry([VAT, VAT])
    with pytest.raises(ExprError, match="already registered"):
        build_registry([Operator("if", _vat)])


def test_frozen_registry_refuses_registration() -> None:
    registry = default_registry()
    with pytest.raises(ExprError, match="frozen"):
        registry.register(VAT)
    open_registry = registry.copy()
    open_registry.register(VAT)
    assert "vat" in open_registry


@pytest.mark.parametrize("name", ["Bad", "has space", "==", "", "1x"])
def test_plugin_names_are_identifiers(name: str) -> None:
    with pytest.raises(ExprError, match="invalid"):
        OperatorRegistry().register(Operator(name, _vat))


def test_plugin_operators_cannot_be_special_forms() -> None:
    with pytest.raises(ExprError, match="needs a Python function"):
        OperatorRegistry().register(Operator("thing", None))


def test_every_builtin_documented() -> None:
    docs = (PACKAGE.parents[2] / "docs" / "expressions.md").read_text(encoding="utf-8")
    for op in default_registry():
        assert f'{{"{op.name}"' in docs, f"`{op.name}` has no example in docs/expressions.md"
        assert op.summary, op.name
