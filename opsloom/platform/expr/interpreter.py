"""The reference interpreter: a plain tree walk, written for clarity, used to cross-check the compiler.

It shares the operator functions and value semantics with the compiler but none of its
specialisations or constant folding, so a bug in a fast path shows up as a
disagreement in the tests (``compiled == interpreted`` on every test case). Not used in
production paths.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .builtins import default_registry
from .errors import ExprError, ExprEvalError, ExprLimitError, ExprTypeError
from .limits import DEFAULT_LIMITS, Limits
from .nodes import arg_path, as_call, is_literal_scalar
from .runtime import Env
from .values import clean_result, compare, is_array, truthy

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .operators import OperatorRegistry

__all__ = ["interpret"]


def interpret(
    expr: Any,
    data: Any = None,
    *,
    registry: OperatorRegistry | None = None,
    limits: Limits | None = None,
    context: Mapping[str, Any] | None = None,
    resolver: Any = None,
) -> Any:
    """Evaluate ``expr`` against ``data`` by walking the tree.

    :raises ExprError: as ``compile`` and ``evaluate`` do.
    """
    walker = _Interpreter(registry or default_registry(), limits or DEFAULT_LIMITS, context, resolver)
    walker.check(expr, "", 0)
    try:
        return clean_result(walker.eval(expr, data, ""))
    except ExprError:
        raise
    except RecursionError:
        raise ExprLimitError("the data is nested too deeply to evaluate") from None
    except Exception as exc:
        raise ExprEvalError(f"evaluation failed: {type(exc).__name__}: {exc}") from exc


class _Interpreter:
    def __init__(self, registry: OperatorRegistry, limits: Limits, context: Any, resolver: Any) -> None:
        self.registry = registry
        self.limits = limits
        self.env = Env(limits, context, resolver)
        self.nodes = 0

    def check(self, node: Any, path: str, depth: int) -> None:
        """Static checks: the same limits, names and arities the compiler enforces."""
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise ExprLimitError(f"the expression has more than {self.limits.max_nodes} parts", path=path)
        if depth > self.limits.max_depth:
            raise ExprLimitError(
                f"the expression is nested deeper than {self.limits.max_depth} levels", path=path
            )
        if type(node) is list:
            if len(node) > self.limits.max_list:
                raise ExprLimitError(f"a list literal has more than {self.limits.max_list} items", path=path)
            for i, item in enumerate(node):
                self.check(item, f"{path}/{i}", depth + 1)
            return
        if type(node) is dict:
            call = as_call(node, path)
            if call is None:
                for key, value in node.items():
                    if type(key) is not str:
                        raise ExprTypeError("object keys must be text", path=path)
                    self.check_literal(value, f"{path}/{key}", depth + 1)
                return
            op_name, args, listed = call
            op = self.registry.lookup(op_name, path)
            if len(args) < op.min_args or (op.max_args is not None and len(args) > op.max_args):
                raise ExprTypeError(f"`{op_name}` takes {op.arity_text()}; got {len(args)}", path=path)
            for i, arg in enumerate(args):
                if i in op.literal_args:
                    self.check_literal(arg, arg_path(path, op_name, i, listed), depth + 1)
                else:
                    self.check(arg, arg_path(path, op_name, i, listed), depth + 1)
            return
        self.check_literal(node, path, depth, counted=True)

    def check_literal(self, value: Any, path: str, depth: int, counted: bool = False) -> None:
        if not counted:
            self.nodes += 1
            if self.nodes > self.limits.max_nodes:
                raise ExprLimitError(f"the expression has more than {self.limits.max_nodes} parts", path=path)
        if depth > self.limits.max_depth:
            raise ExprLimitError(
                f"the expression is nested deeper than {self.limits.max_depth} levels", path=path
            )
        if type(value) in (list, dict):
            items = value.items() if type(value) is dict else enumerate(value)
            for key, item in items:
                if type(key) not in (str, int):
                    raise ExprTypeError("object keys must be text", path=path)
                self.check_literal(item, f"{path}/{key}", depth + 1)
        elif type(value) is str:
            if len(value) > self.limits.max_string:
                raise ExprLimitError(
                    f"a text literal is longer than {self.limits.max_string} characters", path=path
                )
        elif not is_literal_scalar(value) or (type(value) is float and value != value):
            raise ExprTypeError(f"{type(value).__name__} is not a JSON value", path=path)

    # ------------------------------------------------------------ evaluation

    def eval(self, node: Any, data: Any, path: str) -> Any:
        if type(node) is list:
            return [self.eval(item, data, f"{path}/{i}") for i, item in enumerate(node)]
        call = as_call(node, path)
        if call is None:
            return node
        op_name, args, listed = call
        op = self.registry.lookup(op_name, path)

        def sub(i: int, scope: Any = data) -> Any:
            return self.eval(args[i], scope, arg_path(path, op_name, i, listed)) if i < len(args) else None

        env = self.env
        if op_name == "var":
            if not args:
                return data
            key = sub(0)
            default = sub(1) if len(args) > 1 else None
            return env.lookup(data, key, default)
        if op_name in ("if", "?:"):
            i = 0
            while i < len(args) - 1:
                if truthy(sub(i)):
                    return sub(i + 1)
                i += 2
            return sub(i) if i < len(args) else None
        if op_name in ("and", "or"):
            value = None
            for i in range(len(args)):
                value = sub(i)
                if truthy(value) is (op_name == "or"):
                    return value
            return value
        if op_name in ("map", "filter", "all", "some", "none", "reduce"):
            return self.loop(op_name, args, sub, data, path)
        if op_name == "missing":
            values = [sub(i) for i in range(len(args))]
            return self.missing(data, values)
        if op_name == "missing_some":
            need, options = sub(0), sub(1)
            options = list(options) if is_array(options) else [options]
            absent = self.missing(data, [options])
            return [] if compare(">=", len(options) - len(absent), need) else absent
        values = [args[i] if i in op.literal_args else sub(i) for i in range(len(args))]
        fn = op.fn
        assert fn is not None
        try:
            result = fn(env, data, *values) if op.needs_env else fn(*values)
        except ExprError as exc:
            if not getattr(exc, "_located", False):
                exc.path, exc.errors, exc._located = path, {path or "/": exc.detail}, True  # type: ignore[attr-defined]
            raise
        except Exception as exc:
            raise ExprEvalError(f"`{op_name}` failed: {type(exc).__name__}: {exc}", path=path) from exc
        if type(result) is str and len(result) > self.limits.max_string:
            raise ExprLimitError(
                f"`{op_name}` produced text longer than {self.limits.max_string} characters", path=path
            )
        if type(result) in (list, dict) and len(result) > self.limits.max_list:
            raise ExprLimitError(
                f"`{op_name}` produced a list longer than {self.limits.max_list} items", path=path
            )
        return result

    def loop(self, op_name: str, args: list[Any], sub: Any, data: Any, path: str) -> Any:
        items = sub(0)
        if op_name == "reduce":
            accumulator = sub(2) if len(args) > 2 else None
            if not is_array(items):
                return accumulator
            for item in items:
                self.env.tick()
                accumulator = sub(1, {"current": item, "accumulator": accumulator}) if len(args) > 1 else None
                if (type(accumulator) is str and len(accumulator) > self.limits.max_string) or (
                    type(accumulator) is list and len(accumulator) > self.limits.max_list
                ):
                    raise ExprLimitError("`reduce` built a value beyond the size limits", path=path)
            return accumulator
        if not is_array(items):
            return {"map": [], "filter": [], "all": False, "some": False, "none": True}[op_name]
        if op_name == "all" and not items:
            return False
        results = []
        for item in items:
            self.env.tick()
            results.append(sub(1, item))
            if op_name == "all" and not truthy(results[-1]):
                return False
            if op_name in ("some", "none") and truthy(results[-1]):
                return op_name == "some"
        if op_name == "map":
            return results
        if op_name == "filter":
            return [item for item, keep in zip(items, results, strict=True) if truthy(keep)]
        return {"all": True, "some": False, "none": True}[op_name]

    def missing(self, data: Any, values: list[Any]) -> list[Any]:
        keys = values[0] if values and is_array(values[0]) else values
        absent = []
        for key in keys:
            value = self.env.lookup(data, key)
            if value is None or value == "":
                absent.append(key)
        return absent
