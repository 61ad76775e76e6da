"""Callable conditions of ConditionalRouter that survive serialization, without code in the data.

A condition function is stored in one of two forms, both plain data:

* ``{"_type": "callable", "callable_type": "function", "module": ..., "name": ...}``:
  a function found again only in this process's registry of conditions, which
  :func:`register_condition` fills (as a decorator, or when a named function is
  first used in a route). Data never causes an import.
* ``{"_type": "lambda_expression", "expression": ...}``: a lambda or a
  one-expression function, rewritten as an expression for the safe evaluator.
"""

from __future__ import annotations

import ast
import inspect
import threading
import weakref
from typing import Any, Callable, TypeVar

from routilux.builtin_routines._expressions import compile_condition, evaluate_condition
from routilux.builtin_routines._function_source import NotExpressible, _Rename, expression_of, is_lambda
from routilux.errors import ExpressionError, FlowError, UnknownConditionError

__all__ = [
    "ExpressionCondition",
    "STORED_TYPES",
    "condition_from_data",
    "condition_to_data",
    "lookup_condition",
    "register_condition",
]

F = TypeVar("F", bound=Callable[..., Any])
STORED_TYPES = ("callable", "lambda_expression")

_lock = threading.Lock()
_by_name: dict[str, Callable[..., Any]] = {}
_name_of: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def _key(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def register_condition(fn: F | str | None = None, *, name: str | None = None) -> Any:
    """Register a condition function under a name, so routes using it can be stored and restored.

    Use as ``@register_condition``, ``@register_condition("is_urgent")`` or
    ``register_condition(fn, name="is_urgent")``. Without a name the function is
    registered as ``module.qualname``. A redefinition with the same module and
    qualified name replaces the earlier one.

    Raises:
        FlowError: the name is taken by a different function.
    """
    if isinstance(fn, str):
        return lambda f: register_condition(f, name=fn)
    if fn is None:
        return lambda f: register_condition(f, name=name)
    chosen = name or _key(fn)
    with _lock:
        other = _by_name.get(chosen)
        if other is not None and other is not fn and _key(other) != _key(fn):
            raise FlowError(f"condition name {chosen!r} is already registered for {_key(other)}")
        _by_name[chosen] = fn
        _name_of[fn] = chosen
    return fn


def lookup_condition(name: str, module: str | None = None) -> Callable[..., Any]:
    """Return the condition registered as ``name`` (or as ``module.name``).

    Raises:
        UnknownConditionError: this process has registered no such condition.
    """
    with _lock:
        for candidate in (name, f"{module}.{name}" if module else None):
            if candidate and candidate in _by_name:
                return _by_name[candidate]
    raise UnknownConditionError(f"{module}.{name}" if module and "." not in name else name)


class ExpressionCondition:
    """A condition restored from an expression: ``cond(data, config, stats)`` runs the safe evaluator."""

    def __init__(self, expression: str) -> None:
        compile_condition(expression)
        self.expression = expression

    def __call__(self, data: Any, config: dict[str, Any] | None = None, stats: dict[str, Any] | None = None) -> Any:
        """Evaluate the expression with ``data``, ``config`` and ``stats``."""
        return evaluate_condition(self.expression, data, config or {}, stats or {})

    def __repr__(self) -> str:
        return f"ExpressionCondition({self.expression!r})"


def condition_to_data(fn: Callable[..., Any]) -> dict[str, Any]:
    """Return the stored form of a callable condition.

    Raises:
        NotExpressible: it is neither a registered or named function nor a
            lambda the safe evaluator can express (the message says why).
    """
    if isinstance(fn, ExpressionCondition):
        return {"_type": "lambda_expression", "expression": fn.expression}
    remember(fn)
    with _lock:
        name = _name_of.get(fn)
    if name is not None:
        return {"_type": "callable", "callable_type": "function", "module": fn.__module__, "name": name}
    if not inspect.isfunction(fn):
        raise NotExpressible(f"{fn!r} is not a function; register a function with @register_condition")
    try:
        return {"_type": "lambda_expression", "expression": expression_of(fn)}
    except NotExpressible:
        if is_lambda(fn):
            raise
    register_condition(fn)  # a nested function that is no expression: by name, in this process
    return condition_to_data(fn)


def remember(fn: Callable[..., Any]) -> None:
    """Register a named module-level function on its first use in a route."""
    if inspect.isfunction(fn) and not is_lambda(fn) and "<locals>" not in fn.__qualname__:
        with _lock:
            known = fn in _name_of
        if not known:
            register_condition(fn)


def condition_from_data(data: dict[str, Any]) -> Callable[..., Any]:
    """Rebuild a callable condition from :func:`condition_to_data` output.

    Raises:
        UnknownConditionError: a named function this process has not registered.
        ExpressionError: an expression the safe evaluator refuses.
    """
    kind = data.get("_type")
    if kind == "lambda_expression":
        return ExpressionCondition(_plain_expression(str(data.get("expression", ""))))
    if kind == "callable":
        return lookup_condition(str(data.get("name", "")), data.get("module"))
    raise ExpressionError(f"a stored condition has _type {kind!r}; expected one of {STORED_TYPES}")


def _plain_expression(text: str) -> str:
    """Accept ``lambda x: body`` text (as upstream stores it) as well as a bare expression."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        return text
    if not isinstance(node, ast.Lambda):
        return text
    params = [a.arg for a in node.args.args]
    if len(params) > 3 or node.args.vararg or node.args.kwarg or node.args.kwonlyargs:
        raise ExpressionError(f"stored lambda {text!r} must take only (data[, config[, stats]])")
    try:
        body = _Rename(dict(zip(params, ("data", "config", "stats"))), {}).visit(node.body)
    except NotExpressible as exc:
        raise ExpressionError(f"stored lambda {text!r} cannot be evaluated safely: {exc}") from None
    return ast.unparse(body)
