"""The expression language's own branch of the error tree.

Every failure inside ``opsloom.platform.expr`` is one of these, so callers catch
``ExprError`` (from ``opsloom.platform.errors``) and never a bare Python exception::

    ExprError (422)                 path = JSON pointer of the offending node
     +-- ExprParseError             formula text: line, column and a caret excerpt
     +-- ExprTypeError              static check: an operand cannot have the needed type
     +-- ExprLimitError             depth, size, iteration or time limit exceeded
     +-- ExprUnknownOperatorError   an operator name nobody registered
     +-- ExprEvalError              a run-time failure (bad argument, no SQL form, ...)
"""

from __future__ import annotations

from typing import Any

from opsloom.platform.errors import ExprError

__all__ = [
    "ExprError",
    "ExprEvalError",
    "ExprLimitError",
    "ExprParseError",
    "ExprTypeError",
    "ExprUnknownOperatorError",
]


class ExprParseError(ExprError):
    """Formula text that does not parse; ``line`` and ``column`` are 1-based."""

    title = "Formula syntax error"
    slug = "expression-syntax"

    def __init__(self, detail: str, *, line: int, column: int, excerpt: str = "", **context: Any) -> None:
        self.line = line
        self.column = column
        self.excerpt = excerpt
        message = f"{detail} (line {line}, column {column})"
        if excerpt:
            message = f"{message}\n{excerpt}"
        super().__init__(message, line=line, column=column, **context)
        self.reason = detail


class ExprTypeError(ExprError):
    """An operand has a type the operator cannot use ("`amount` is text, `>` needs a number")."""

    title = "Expression type error"
    slug = "expression-type"


class ExprLimitError(ExprError):
    """An expression or its evaluation exceeded a configured limit (see ``Limits``)."""

    title = "Expression limit exceeded"
    slug = "expression-limit"


class ExprUnknownOperatorError(ExprError):
    """An operator that is neither built in nor registered by a plugin."""

    title = "Unknown expression operator"
    slug = "expression-operator"

    def __init__(
        self, detail: str | None = None, *, operator: str = "", path: str = "", **context: Any
    ) -> None:
        self.operator = operator
        super().__init__(detail, path=path, **context)


class ExprEvalError(ExprError):
    """A failure while evaluating or translating an expression that passed the static checks."""

    title = "Expression evaluation error"
    slug = "expression-eval"
