"""The registry of self-describing operators: what the compiler, type checker and SQL translator consult.

An ``Operator`` carries everything about one name: its Python function, how many
arguments it takes, its type signature, and optionally an SQL form. Built-ins and
plugin operators (hook ``opsloom_register_expr_operators``) go through the same
``OperatorRegistry.register``, which refuses a name twice; the platform freezes the
registry once the app serves. Special forms (``var``, ``if``, ``and``, ``map``...)
are registered like any other operator so that names, arity and docs live in one
place, but the compiler and interpreter implement their evaluation themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import ExprError, ExprUnknownOperatorError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

__all__ = ["TYPE_NAMES", "Operator", "OperatorRegistry"]

#: The static types ``infer_type`` works with.
TYPE_NAMES = ("number", "text", "boolean", "date", "datetime", "list", "any", "null")

_NAME = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*\Z")


@dataclass(frozen=True, slots=True)
class Operator:
    """One operator of the expression language.

    :param name: the JSON key (``"date_add"``); plugin names are lower-case identifiers.
    :param fn: the Python implementation, called with evaluated arguments; when
        ``needs_env`` it is called as ``fn(env, data, *args)`` (``env.now``, ``env.tz``,
        ``env.lookup(path)``) instead.
    :param min_args: fewest arguments accepted (checked at compile time).
    :param max_args: most arguments accepted, ``None`` for any number.
    :param params: parameter types for ``infer_type``; the last one repeats when the
        operator is variadic. ``"any"`` accepts everything.
    :param returns: result type, one of ``TYPE_NAMES``.
    :param sql: optional SQL form ``sql(*column_elements) -> ColumnElement`` used by
        ``to_sql``; without it the operator cannot run in the database.
    :param pure: same arguments, same result, no context; lets the compiler fold
        constant calls once.
    :param special: evaluation is implemented by the compiler itself (built-ins only).
    :param literal_args: argument positions taken as literal JSON, never evaluated.
    :param summary: one line for the docs and error messages.
    :param formula: the formula-language function name, when it differs from ``name``.
    """

    name: str
    fn: Callable[..., Any] | None = None
    min_args: int = 0
    max_args: int | None = None
    params: tuple[str, ...] = ("any",)
    returns: str = "any"
    sql: Callable[..., Any] | None = None
    pure: bool = True
    needs_env: bool = False
    special: bool = False
    literal_args: tuple[int, ...] = ()
    summary: str = ""
    formula: str | None = None

    def param_type(self, index: int) -> str:
        if not self.params:
            return "any"
        return self.params[index] if index < len(self.params) else self.params[-1]

    def arity_text(self) -> str:
        if self.max_args is None:
            return f"at least {self.min_args} argument{'s' if self.min_args != 1 else ''}"
        if self.min_args == self.max_args:
            return f"{self.min_args} argument{'s' if self.min_args != 1 else ''}"
        return f"{self.min_args} to {self.max_args} arguments"


class OperatorRegistry:
    """Operators by name. ``register`` refuses duplicates; ``freeze`` makes it read-only."""

    def __init__(self, operators: Iterable[Operator] = ()) -> None:
        self._ops: dict[str, Operator] = {}
        self._frozen = False
        for op in operators:
            self.register(op)

    def register(self, op: Operator, *, builtin: bool = False) -> Operator:
        """Add ``op``.

        :raises ExprError: the registry is frozen, the name is taken or malformed,
            or a non-built-in operator claims to be a special form.
        """
        if self._frozen:
            raise ExprError(f"cannot register operator `{op.name}`: the operator registry is frozen")
        if not isinstance(op, Operator):
            raise ExprError(f"expected an Operator, got {type(op).__name__}")
        if op.name in self._ops:
            raise ExprError(f"operator `{op.name}` is already registered; operator names must be unique")
        if not builtin:
            if not _NAME.match(op.name):
                raise ExprError(
                    f"operator name `{op.name}` is invalid: use lower-case letters, digits and underscores"
                )
            if op.special or op.fn is None:
                raise ExprError(f"operator `{op.name}` needs a Python function (`fn`)")
        self._ops[op.name] = op
        return op

    def freeze(self) -> OperatorRegistry:
        self._frozen = True
        return self

    @property
    def frozen(self) -> bool:
        return self._frozen

    def get(self, name: str) -> Operator | None:
        return self._ops.get(name)

    def lookup(self, name: str, path: str = "") -> Operator:
        """The operator called ``name``.

        :raises ExprUnknownOperatorError: no such operator.
        """
        op = self._ops.get(name)
        if op is None:
            raise ExprUnknownOperatorError(f"unknown operator `{name}`", operator=name, path=path)
        return op

    def __contains__(self, name: object) -> bool:
        return name in self._ops

    def __iter__(self) -> Iterator[Operator]:
        return iter(self._ops.values())

    def __len__(self) -> int:
        return len(self._ops)

    def names(self) -> list[str]:
        return sorted(self._ops)

    def copy(self) -> OperatorRegistry:
        """An unfrozen copy, for adding plugin operators to the built-ins."""
        clone = OperatorRegistry()
        clone._ops = dict(self._ops)
        return clone
