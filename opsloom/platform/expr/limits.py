"""Bounds that keep an expression from exhausting the process: size, depth, iterations, time.

Static limits (depth, node count, literal sizes) are checked once when an expression is
compiled; dynamic limits (string and list sizes produced at run time, loop iterations,
wall-clock time) are checked while it runs. Expressions without loops need no clock:
their cost is bounded by their node count and the size limits, so the deadline is
checked at loop iterations only, which keeps the common case fast.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "Limits"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Every bound of the expression language; all are configurable per call.

    :param max_depth: deepest nesting of operators and lists.
    :param max_nodes: operators, lists and literals in one expression.
    :param max_string: longest string a literal or an operator may produce (characters).
    :param max_list: longest list a literal or an operator may produce (items).
    :param max_iterations: ``map``/``filter``/``reduce``/``all``/``some``/``none`` steps in one evaluation.
    :param max_seconds: wall-clock budget of one evaluation (checked at loop steps).
    :param max_formula_length: characters of formula text ``parse_formula`` accepts.
    :param max_regex_length: characters of a ``regex_match`` pattern.
    """

    max_depth: int = 64
    max_nodes: int = 5_000
    max_string: int = 100_000
    max_list: int = 10_000
    max_iterations: int = 100_000
    max_seconds: float = 1.0
    max_formula_length: int = 20_000
    max_regex_length: int = 1_000


DEFAULT_LIMITS = Limits()
