"""Compile an expression once into nested Python closures; calling it walks no tree.

Compilation checks everything that can be checked without data (operator names,
arity, depth, node count, literal sizes), folds calls whose arguments are constants,
and specialises the hot shapes of business rules: a field read, a comparison with a
constant, membership in a constant list, ``and``/``or`` chains. Each closure takes
``(data, env)``; ``data`` changes inside ``map``/``filter``/``reduce`` scopes, ``env``
(limits, context, resolver) is made once per call. Results equal the reference
interpreter's (``interpreter.py``) on every test.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from .builtins import default_registry
from .errors import ExprError, ExprEvalError, ExprLimitError, ExprTypeError
from .limits import DEFAULT_LIMITS, Limits
from .nodes import arg_path, as_call, is_literal_scalar
from .runtime import MISSING, Env
from .values import clean_result, compare, is_array, loose_eq, strict_eq, truthy

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from .operators import Operator, OperatorRegistry

    Fn = Callable[[Any, Env], Any]

__all__ = ["Compiled", "compile_expr", "locate"]


def locate(exc: ExprError, path: str) -> ExprError:
    """Give an error the pointer of the innermost node it came from (once)."""
    if not getattr(exc, "_located", False):
        exc.path = path
        exc.errors = {path or "/": exc.detail}
        exc._located = True  # type: ignore[attr-defined]
    return exc


class Compiled:
    """A compiled expression: call it as ``compiled(data, resolver=None, context=None)``.

    :raises ExprError: evaluation failed (limit, bad argument); ``path`` points at the node.
    """

    __slots__ = ("_clock", "expr", "fn", "limits", "registry")

    def __init__(self, expr: Any, fn: Fn, limits: Limits, registry: OperatorRegistry) -> None:
        self.expr = expr
        self.fn = fn
        self.limits = limits
        self.registry = registry
        # (context, its _now, its tz, (now, tz)): reused while the caller passes the same context
        # with the same explicit ``_now``, so a batch over many records resolves the clock once.
        self._clock: tuple[Any, Any, Any, Any] | None = None

    def __call__(
        self, data: Any = None, resolver: Any = None, *, context: Mapping[str, Any] | None = None
    ) -> Any:
        env = Env(self.limits, context, resolver)
        clock = self._clock
        if (
            clock is not None
            and context is clock[0]
            and context.get("_now") is clock[1]
            and context.get("tz", context.get("_tz")) is clock[2]
        ):
            env._now, env._tz = clock[3]
        try:
            result = self.fn(data, env)
        except ExprError:
            raise
        except RecursionError:
            raise ExprLimitError("the data is nested too deeply to evaluate") from None
        except Exception as exc:  # a plugin operator or an unforeseen value; never leak a bare exception
            raise ExprEvalError(f"evaluation failed: {type(exc).__name__}: {exc}") from exc
        if (
            env._now is not None
            and context is not None
            and context.get("_now") is not None
            and (clock is None or context is not clock[0])
        ):
            self._clock = (
                context,
                context.get("_now"),
                context.get("tz", context.get("_tz")),
                (env._now, env._tz),
            )
        cls = type(result)
        if cls is float or cls is list or cls is dict:
            return clean_result(result)
        return result

    def __repr__(self) -> str:
        return f"Compiled({self.expr!r})"


def compile_expr(
    expr: Any, *, registry: OperatorRegistry | None = None, limits: Limits | None = None
) -> Compiled:
    """Compile ``expr`` (the JSON form) into a ``Compiled`` callable.

    :raises ExprUnknownOperatorError: an operator nobody registered.
    :raises ExprTypeError: wrong number of arguments, or a value that is not JSON.
    :raises ExprLimitError: the expression is too deep, too big, or has oversized literals.
    """
    compiler = _Compiler(registry or default_registry(), limits or DEFAULT_LIMITS)
    fn, const = compiler.node(expr, "", 0)
    if const is not MISSING and type(const) in (list, dict):
        fn = _copying(const)
    return Compiled(expr, fn, compiler.limits, compiler.registry)


_CLOCK_OPS = frozenset({"today", "now"})


def _clock_memo(fn: Fn) -> Fn:
    """Cache a sub-expression that depends only on the clock (``date_add(today(), "P30D")``)."""
    cache: dict[Any, Any] = {}

    def memo(d: Any, e: Env) -> Any:
        key = e.clock_key()
        try:
            return cache[key]
        except KeyError:
            value = fn(d, e)
            if type(value) in (list, dict):
                return value
            if len(cache) > 32:
                cache.clear()
            cache[key] = value
            return value

    return memo


def _const(value: Any) -> Fn:
    if type(value) in (list, dict):
        return _copying(value)
    return lambda d, e: value


def _copying(value: Any) -> Fn:
    # Constant lists and objects are copied so a caller mutating a result cannot change the expression.
    return lambda d, e: copy.deepcopy(value)


def _is_plain_number(value: Any) -> bool:
    return (type(value) is int or type(value) is float) and value == value


class _Compiler:
    def __init__(self, registry: OperatorRegistry, limits: Limits) -> None:
        self.registry = registry
        self.limits = limits
        self.nodes = 0
        self.clock_only: set[int] = set()  # ids of closures that read only the clock, never the data

    # ------------------------------------------------------------ walk

    def node(self, node: Any, path: str, depth: int) -> tuple[Fn, Any]:
        """``(closure, constant)``; ``constant`` is ``MISSING`` unless the node is constant."""
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise ExprLimitError(f"the expression has more than {self.limits.max_nodes} parts", path=path)
        if depth > self.limits.max_depth:
            raise ExprLimitError(
                f"the expression is nested deeper than {self.limits.max_depth} levels", path=path
            )
        cls = type(node)
        if cls is str:
            if len(node) > self.limits.max_string:
                raise ExprLimitError(
                    f"a text literal is longer than {self.limits.max_string} characters", path=path
                )
            return _const(node), node
        if cls is list:
            return self.array(node, path, depth)
        if cls is dict:
            call = as_call(node, path)
            if call is None:
                return self.object_literal(node, path, depth)
            op, args, listed = call
            return self.call(op, args, listed, path, depth)
        if cls is float and node != node:
            raise ExprTypeError("NaN is not a JSON value", path=path)
        if is_literal_scalar(node):
            return _const(node), node
        raise ExprTypeError(f"{type(node).__name__} is not a JSON value", path=path)

    def array(self, node: list[Any], path: str, depth: int) -> tuple[Fn, Any]:
        if len(node) > self.limits.max_list:
            raise ExprLimitError(f"a list literal has more than {self.limits.max_list} items", path=path)
        parts = [self.node(item, f"{path}/{i}", depth + 1) for i, item in enumerate(node)]
        if all(const is not MISSING for _, const in parts):
            value = [const for _, const in parts]
            return _copying(value), value
        fns = [fn for fn, _ in parts]
        return (lambda d, e: [fn(d, e) for fn in fns]), MISSING

    def object_literal(self, node: dict[Any, Any], path: str, depth: int) -> tuple[Fn, Any]:
        # JSON Logic passes objects that are not calls through untouched; they still count against limits.
        self.literal(node, path, depth)
        return _copying(node), node

    def literal(self, value: Any, path: str, depth: int) -> None:
        if depth > self.limits.max_depth:
            raise ExprLimitError(
                f"the expression is nested deeper than {self.limits.max_depth} levels", path=path
            )
        cls = type(value)
        if cls is dict:
            for key, item in value.items():
                if type(key) is not str:
                    raise ExprTypeError("object keys must be text", path=path)
                self.count(path)
                self.literal(item, f"{path}/{key}", depth + 1)
        elif cls is list:
            for index, item in enumerate(value):
                self.count(path)
                self.literal(item, f"{path}/{index}", depth + 1)
        elif cls is str and len(value) > self.limits.max_string:
            raise ExprLimitError(
                f"a text literal is longer than {self.limits.max_string} characters", path=path
            )
        elif not is_literal_scalar(value) or (cls is float and value != value):
            raise ExprTypeError(f"{cls.__name__} is not a JSON value", path=path)

    def count(self, path: str) -> None:
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise ExprLimitError(f"the expression has more than {self.limits.max_nodes} parts", path=path)

    def call(self, op_name: str, args: list[Any], listed: bool, path: str, depth: int) -> tuple[Fn, Any]:
        op = self.registry.lookup(op_name, path)
        if len(args) < op.min_args or (op.max_args is not None and len(args) > op.max_args):
            raise ExprTypeError(f"`{op_name}` takes {op.arity_text()}; got {len(args)}", path=path)
        if op.special:
            return getattr(self, "special_" + _SPECIAL_NAMES[op_name])(args, listed, path, depth)
        parts: list[tuple[Fn, Any]] = []
        for i, arg in enumerate(args):
            sub = arg_path(path, op_name, i, listed)
            if i in op.literal_args:
                self.count(sub)
                self.literal(arg, sub, depth + 1)
                parts.append((_const(arg), arg))
            else:
                parts.append(self.node(arg, sub, depth + 1))
        return self.eager(op, parts, path)

    # ------------------------------------------------------------ eager operators

    def eager(self, op: Operator, parts: list[tuple[Fn, Any]], path: str) -> tuple[Fn, Any]:
        consts = [const for _, const in parts]
        if op.pure and all(const is not MISSING for const in consts):
            value = self.fold(op, consts, path)
            return _const(value), value
        clock_only = (op.pure or op.name in _CLOCK_OPS) and all(
            const is not MISSING or id(fn) in self.clock_only for fn, const in parts
        )
        if clock_only:
            memo = _clock_memo(self.eager_call(op, parts, path))
            self.clock_only.add(id(memo))
            return memo, MISSING
        return self.eager_call(op, parts, path), MISSING

    def eager_call(self, op: Operator, parts: list[tuple[Fn, Any]], path: str) -> Fn:
        special = _FAST.get(op.name)
        if special is not None:
            fast = special(parts)
            if fast is not None:
                return fast
        fns = [fn for fn, _ in parts]
        fn = op.fn
        assert fn is not None
        max_string, max_list = self.limits.max_string, self.limits.max_list
        sized = op.returns in ("text", "list", "any")
        n = len(fns)
        if op.needs_env:

            def raw(d: Any, e: Env) -> Any:
                return fn(e, d, *[g(d, e) for g in fns])
        elif n == 0:

            def raw(d: Any, e: Env) -> Any:
                return fn()
        elif n == 1:
            (a,) = fns

            def raw(d: Any, e: Env) -> Any:
                return fn(a(d, e))
        elif n == 2:
            a, b = fns

            def raw(d: Any, e: Env) -> Any:
                return fn(a(d, e), b(d, e))
        elif n == 3:
            a, b, c = fns

            def raw(d: Any, e: Env) -> Any:
                return fn(a(d, e), b(d, e), c(d, e))
        else:

            def raw(d: Any, e: Env) -> Any:
                return fn(*[g(d, e) for g in fns])

        name = op.name

        def call(d: Any, e: Env) -> Any:
            try:
                result = raw(d, e)
            except ExprError as exc:
                raise locate(exc, path) from None
            except (RecursionError, MemoryError):
                raise ExprLimitError(f"`{name}` ran out of resources", path=path) from None
            except Exception as exc:
                raise ExprEvalError(f"`{name}` failed: {type(exc).__name__}: {exc}", path=path) from exc
            if sized:
                cls = type(result)
                if cls is str and len(result) > max_string:
                    raise ExprLimitError(
                        f"`{name}` produced text longer than {max_string} characters", path=path
                    )
                if (cls is list or cls is dict) and len(result) > max_list:
                    raise ExprLimitError(f"`{name}` produced a list longer than {max_list} items", path=path)
            return result

        return call

    def fold(self, op: Operator, consts: list[Any], path: str) -> Any:
        fn = op.fn
        assert fn is not None
        try:
            value = fn(*consts)
        except ExprError as exc:
            raise locate(exc, path) from None
        except Exception as exc:
            raise ExprEvalError(f"`{op.name}` failed: {type(exc).__name__}: {exc}", path=path) from exc
        if type(value) is str and len(value) > self.limits.max_string:
            raise ExprLimitError(
                f"`{op.name}` produces text longer than {self.limits.max_string} characters", path=path
            )
        if type(value) in (list, dict) and len(value) > self.limits.max_list:
            raise ExprLimitError(
                f"`{op.name}` produces a list longer than {self.limits.max_list} items", path=path
            )
        return value

    # ------------------------------------------------------------ special forms

    def args(self, args: list[Any], listed: bool, op: str, path: str, depth: int) -> list[tuple[Fn, Any]]:
        return [self.node(arg, arg_path(path, op, i, listed), depth + 1) for i, arg in enumerate(args)]

    def special_var(self, args: list[Any], listed: bool, path: str, depth: int) -> tuple[Fn, Any]:
        parts = self.args(args, listed, "var", path, depth)
        if not parts:
            return (lambda d, e: d), MISSING
        key_fn, key = parts[0]
        default_fn, default = parts[1] if len(parts) > 1 else (_const(None), None)
        if key is MISSING:
            return (lambda d, e: e.lookup(d, key_fn(d, e), default_fn(d, e))), MISSING
        if key is None or key == "":
            return (lambda d, e: d), MISSING
        key_text = key if type(key) is str else None
        if key_text is None or default is MISSING:
            return (lambda d, e: e.lookup(d, key, default_fn(d, e))), MISSING
        if "." not in key_text:
            if default is None:

                def field(d: Any, e: Env) -> Any:
                    try:
                        return d[key_text]
                    except (KeyError, TypeError, IndexError):
                        return e.lookup(d, key_text)
            else:

                def field(d: Any, e: Env) -> Any:
                    try:
                        return d[key_text]
                    except (KeyError, TypeError, IndexError):
                        return e.lookup(d, key_text, copy.deepcopy(default))

            return field, MISSING
        steps = tuple(key_text.split("."))

        def dotted(d: Any, e: Env) -> Any:
            current = d
            try:
                for step in steps:
                    current = current[step]
            except (KeyError, TypeError, IndexError):
                return e.lookup(d, key_text, copy.deepcopy(default))
            return current

        return dotted, MISSING

    def special_missing(self, args: list[Any], listed: bool, path: str, depth: int) -> tuple[Fn, Any]:
        fns = [fn for fn, _ in self.args(args, listed, "missing", path, depth)]

        def missing(d: Any, e: Env) -> Any:
            values = [fn(d, e) for fn in fns]
            return _missing(d, e, values)

        return missing, MISSING

    def special_missing_some(self, args: list[Any], listed: bool, path: str, depth: int) -> tuple[Fn, Any]:
        (need_fn, _), (options_fn, _) = self.args(args, listed, "missing_some", path, depth)

        def missing_some(d: Any, e: Env) -> Any:
            need, options = need_fn(d, e), options_fn(d, e)
            if not is_array(options):
                options = [options]
            absent = _missing(d, e, [list(options)])
            return [] if compare(">=", len(options) - len(absent), need) else absent

        return missing_some, MISSING

    def special_if(
        self, args: list[Any], listed: bool, path: str, depth: int, name: str = "if"
    ) -> tuple[Fn, Any]:
        parts = self.args(args, listed, name, path, depth)
        if not parts:
            return _const(None), None
        # Fold constant conditions away.
        while len(parts) >= 2 and parts[0][1] is not MISSING:
            if truthy(parts[0][1]):
                return parts[1]
            parts = parts[2:]
        if not parts:
            return _const(None), None
        if len(parts) == 1:
            return parts[0]
        fns = [fn for fn, _ in parts]
        if len(fns) == 3:
            cond, then, other = fns

            def if3(d: Any, e: Env) -> Any:
                v = cond(d, e)
                return then(d, e) if v is True or (v is not False and truthy(v)) else other(d, e)

            return if3, MISSING
        pairs = [(fns[i], fns[i + 1]) for i in range(0, len(fns) - 1, 2)]
        otherwise = fns[-1] if len(fns) % 2 else _const(None)

        def chain(d: Any, e: Env) -> Any:
            for cond, then in pairs:
                if truthy(cond(d, e)):
                    return then(d, e)
            return otherwise(d, e)

        return chain, MISSING

    def special_ternary(self, args: list[Any], listed: bool, path: str, depth: int) -> tuple[Fn, Any]:
        return self.special_if(args, listed, path, depth, "?:")

    def special_and(self, args: list[Any], listed: bool, path: str, depth: int) -> tuple[Fn, Any]:
        return self._junction(args, listed, path, depth, "and")

    def special_or(self, args: list[Any], listed: bool, path: str, depth: int) -> tuple[Fn, Any]:
        return self._junction(args, listed, path, depth, "or")

    def _junction(self, args: list[Any], listed: bool, path: str, depth: int, name: str) -> tuple[Fn, Any]:
        parts = self.args(args, listed, name, path, depth)
        if not parts:
            return _const(None), None
        if all(const is not MISSING for _, const in parts):
            value = None
            for _, const in parts:
                value = const
                if truthy(value) is (name == "or"):
                    break
            return _const(value), value
        fns = [fn for fn, _ in parts]
        if len(fns) == 1:
            return fns[0], MISSING
        if name == "and":
            if len(fns) == 2:
                a, b = fns

                def and2(d: Any, e: Env) -> Any:
                    v = a(d, e)
                    if v is True or (v is not False and truthy(v)):
                        return b(d, e)
                    return v

                return and2, MISSING

            def and_n(d: Any, e: Env) -> Any:
                v = None
                for fn in fns:
                    v = fn(d, e)
                    if v is True:
                        continue
                    if v is False or not truthy(v):
                        return v
                return v

            return and_n, MISSING

        def or_n(d: Any, e: Env) -> Any:
            v = None
            for fn in fns:
                v = fn(d, e)
                if v is True or (v is not False and truthy(v)):
                    return v
            return v

        return or_n, MISSING

    def _scoped(self, args: list[Any], listed: bool, path: str, depth: int, name: str) -> tuple[Fn, Fn]:
        parts = self.args(args, listed, name, path, depth)
        source = parts[0][0] if parts else _const(None)
        logic = parts[1][0] if len(parts) > 1 else _const(None)
        return source, logic

    def special_map(self, args: list[Any], listed: bool, path: str, depth: int) -> tuple[Fn, Any]:
        source, logic = self._scoped(args, listed, path, depth, "map")

        def mapped(d: Any, e: Env) -> Any:
            items = source(d, e)
            if not is_array(items):
                return []
            out = []
            for item in items:
                e.tick()
                out.append(logic(item, e))
            return out

        return mapped, MISSING

    def special_filter(self, args: list[Any], listed: bool, path: str, depth: int) -> tuple[Fn, Any]:
        source, logic = self._scoped(args, listed, path, depth, "filter")

        def filtered(d: Any, e: Env) -> Any:
            items = source(d, e)
            if not is_array(items):
                return []
            out = []
            for item in items:
                e.tick()
                if truthy(logic(item, e)):
                    out.append(item)
            return out

        return filtered, MISSING

    def special_reduce(self, args: list[Any], listed: bool, path: str, depth: int) -> tuple[Fn, Any]:
        parts = self.args(args, listed, "reduce", path, depth)
        source = parts[0][0] if parts else _const(None)
        logic = parts[1][0] if len(parts) > 1 else _const(None)
        initial = parts[2][0] if len(parts) > 2 else _const(None)
        max_string, max_list = self.limits.max_string, self.limits.max_list

        def reduced(d: Any, e: Env) -> Any:
            items = source(d, e)
            accumulator = initial(d, e)
            if not is_array(items):
                return accumulator
            for item in items:
                e.tick()
                accumulator = logic({"current": item, "accumulator": accumulator}, e)
                cls = type(accumulator)
                if (cls is str and len(accumulator) > max_string) or (
                    cls is list and len(accumulator) > max_list
                ):
                    raise ExprLimitError("`reduce` built a value beyond the size limits", path=path)
            return accumulator

        return reduced, MISSING

    def special_all(self, args: list[Any], listed: bool, path: str, depth: int) -> tuple[Fn, Any]:
        source, logic = self._scoped(args, listed, path, depth, "all")

        def every(d: Any, e: Env) -> Any:
            items = source(d, e)
            if not is_array(items) or not items:
                return False
            for item in items:
                e.tick()
                if not truthy(logic(item, e)):
                    return False
            return True

        return every, MISSING

    def special_some(self, args: list[Any], listed: bool, path: str, depth: int) -> tuple[Fn, Any]:
        source, logic = self._scoped(args, listed, path, depth, "some")

        def some(d: Any, e: Env) -> Any:
            items = source(d, e)
            if not is_array(items):
                return False
            for item in items:
                e.tick()
                if truthy(logic(item, e)):
                    return True
            return False

        return some, MISSING

    def special_none(self, args: list[Any], listed: bool, path: str, depth: int) -> tuple[Fn, Any]:
        source, logic = self._scoped(args, listed, path, depth, "none")

        def none(d: Any, e: Env) -> Any:
            items = source(d, e)
            if not is_array(items):
                return True
            for item in items:
                e.tick()
                if truthy(logic(item, e)):
                    return False
            return True

        return none, MISSING


_SPECIAL_NAMES = {
    "var": "var",
    "missing": "missing",
    "missing_some": "missing_some",
    "if": "if",
    "?:": "ternary",
    "and": "and",
    "or": "or",
    "map": "map",
    "filter": "filter",
    "reduce": "reduce",
    "all": "all",
    "some": "some",
    "none": "none",
}


def _missing(d: Any, e: Env, values: list[Any]) -> list[Any]:
    keys = values[0] if values and is_array(values[0]) else values
    absent = []
    for key in keys:
        value = e.lookup(d, key)
        if value is None or value == "":
            absent.append(key)
    return absent


# ------------------------------------------------------------------ fast paths for hot shapes


def _fast_compare(symbol: str) -> Callable[[list[tuple[Fn, Any]]], Fn | None]:
    import operator as _operator

    native = {"<": _operator.lt, "<=": _operator.le, ">": _operator.gt, ">=": _operator.ge}[symbol]

    def build(parts: list[tuple[Fn, Any]]) -> Fn | None:
        if len(parts) != 2:
            return None
        (a, ca), (b, cb) = parts
        if cb is not MISSING and ca is MISSING and (_is_plain_number(cb) or type(cb) is str):
            number = _is_plain_number(cb)

            def left(d: Any, e: Env) -> Any:
                v = a(d, e)
                t = type(v)
                if (t is int or t is float) if number else t is str:
                    return native(v, cb)
                return compare(symbol, v, cb)

            return left
        if ca is not MISSING and cb is MISSING and (_is_plain_number(ca) or type(ca) is str):
            number = _is_plain_number(ca)

            def right(d: Any, e: Env) -> Any:
                v = b(d, e)
                t = type(v)
                if (t is int or t is float) if number else t is str:
                    return native(ca, v)
                return compare(symbol, ca, v)

            return right

        def both(d: Any, e: Env) -> Any:
            x, y = a(d, e), b(d, e)
            tx, ty = type(x), type(y)
            if (tx is int or tx is float) and (ty is int or ty is float):
                return native(x, y)
            return compare(symbol, x, y)

        return both

    return build


def _fast_equal(negate: bool, strict: bool) -> Callable[[list[tuple[Fn, Any]]], Fn | None]:
    slow = strict_eq if strict else loose_eq

    def build(parts: list[tuple[Fn, Any]]) -> Fn | None:
        if len(parts) != 2:
            return None
        (a, ca), (b, cb) = parts
        if ca is not MISSING and cb is MISSING:
            (a, ca), (b, cb) = (b, cb), (a, ca)
        if cb is MISSING or ca is not MISSING:
            if negate:
                return lambda d, e: not slow(a(d, e), b(d, e))
            return lambda d, e: slow(a(d, e), b(d, e))
        c = cb
        if c is None and not strict:
            if negate:
                return lambda d, e: a(d, e) is not None
            return lambda d, e: a(d, e) is None
        if type(c) is str:

            def eq_text(d: Any, e: Env) -> bool:
                v = a(d, e)
                return (v == c if type(v) is str else slow(v, c)) is not negate

            return eq_text
        if _is_plain_number(c):

            def eq_number(d: Any, e: Env) -> bool:
                v = a(d, e)
                t = type(v)
                return (v == c if t is int or t is float else slow(v, c)) is not negate

            return eq_number
        return lambda d, e: slow(a(d, e), c) is not negate

    return build


def _fast_in(parts: list[tuple[Fn, Any]]) -> Fn | None:
    if len(parts) != 2:
        return None
    (a, ca), (_b, cb) = parts
    if cb is MISSING or ca is not MISSING:
        return None
    if type(cb) is str:
        if not cb:
            return lambda d, e: False

        def in_text(d: Any, e: Env) -> bool:
            v = a(d, e)
            return v in cb if type(v) is str else _slow_in(v, cb)

        return in_text
    if type(cb) is not list:
        return None
    texts = frozenset(item for item in cb if type(item) is str)
    numbers = frozenset(item for item in cb if _is_plain_number(item))
    has_null = any(item is None for item in cb)
    bools = frozenset(item for item in cb if type(item) is bool)

    def in_list(d: Any, e: Env) -> bool:
        v = a(d, e)
        t = type(v)
        if t is str:
            return v in texts
        if t is int or t is float:
            return v in numbers
        if v is None:
            return has_null
        if t is bool:
            return v in bools
        return _slow_in(v, cb)

    return in_list


def _slow_in(a: Any, b: Any) -> bool:
    from .builtins import op_in

    return op_in(a, b)


def _fast_not(parts: list[tuple[Fn, Any]]) -> Fn | None:
    if not parts:
        return None
    a = parts[0][0]

    def negation(d: Any, e: Env) -> bool:
        v = a(d, e)
        if v is True:
            return False
        if v is False:
            return True
        return not truthy(v)

    return negation


def _fast_number(parts: list[tuple[Fn, Any]]) -> Fn | None:
    if len(parts) != 2:
        return None
    (a, _), (b, _) = parts
    from .builtins import op_add

    def plus(d: Any, e: Env) -> Any:
        x, y = a(d, e), b(d, e)
        if (type(x) is int or type(x) is float) and (type(y) is int or type(y) is float):
            result = x + y
            if type(result) is float or -(2**53) < result < 2**53:
                return result
        return op_add(x, y)

    return plus


_FAST: dict[str, Callable[[list[tuple[Fn, Any]]], Fn | None]] = {
    "<": _fast_compare("<"),
    "<=": _fast_compare("<="),
    ">": _fast_compare(">"),
    ">=": _fast_compare(">="),
    "==": _fast_equal(False, False),
    "!=": _fast_equal(True, False),
    "===": _fast_equal(False, True),
    "!==": _fast_equal(True, True),
    "in": _fast_in,
    "!": _fast_not,
    "+": _fast_number,
}
