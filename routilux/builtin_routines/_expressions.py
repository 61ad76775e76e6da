"""The safe evaluator of ConditionalRouter's string conditions.

An expression is parsed once and checked against a whitelist (node types,
names, methods, constants) before it may run; then a small tree walker (never
``eval``) evaluates it, counting its steps and bounding the size of every value
it builds (see ``_guards``). Nothing reachable from an expression can name an
attribute, import, or call anything but the listed builtins and methods.
"""

from __future__ import annotations

import ast
import functools
from typing import Any

from routilux.builtin_routines import _guards as g
from routilux.builtin_routines import _methods as m
from routilux.builtin_routines._walker import Walker
from routilux.errors import ExpressionError, ExpressionLimitError, UnsafeExpressionError

__all__ = ["compile_condition", "evaluate_condition", "UnsafeExpressionError", "ExpressionLimitError"]

ROOT_NAMES = frozenset({"data", "config", "stats"})
_ALLOWED_NODES = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.BinOp, ast.UnaryOp, ast.Compare, ast.IfExp, ast.Call,
    ast.keyword, ast.Constant, ast.Name, ast.Load, ast.Store, ast.Attribute, ast.Subscript, ast.Slice,
    ast.Tuple, ast.List, ast.Set, ast.Dict, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp,
    ast.comprehension, *g.BIN_OPS, *g.UNARY_OPS, *g.COMPARE_OPS,
)  # fmt: skip
_CONSTANT_TYPES = (str, bytes, int, float, bool, type(None))


@functools.lru_cache(maxsize=512)
def compile_condition(expression: str) -> ast.Expression:
    """Parse and check ``expression`` once; return its checked tree (cached, thread-safe).

    Raises:
        ExpressionError: bad syntax; UnsafeExpressionError: a refused construct;
        ExpressionLimitError: the expression itself is too long or too deep.
    """
    if not isinstance(expression, str):
        raise ExpressionError(f"a condition expression must be a string, not {type(expression).__name__}")
    if len(expression) > g.MAX_SOURCE_CHARS:
        raise g.too_big("the condition's text (in characters)", len(expression), g.MAX_SOURCE_CHARS)
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(f"condition {expression!r} is not a valid expression: {exc}") from None
    _Checker(expression, tree).check(tree)
    return tree


def evaluate_condition(expression: str, data: Any, config: dict[str, Any], stats: dict[str, Any]) -> Any:
    """Evaluate ``expression`` with only ``data``, ``config``, ``stats`` and the safe builtins.

    Raises:
        ExpressionError: the expression is refused or exceeds a limit. Errors of
        the expression's own logic (KeyError, TypeError, ZeroDivisionError...)
        propagate unchanged.
    """
    tree = compile_condition(expression)
    return Walker(expression).run(tree.body, {"data": data, "config": config, "stats": stats})


class _Checker:
    """Walks a parsed expression once and refuses anything outside the whitelist."""

    def __init__(self, expression: str, tree: ast.Expression) -> None:
        self.expression = expression
        self.nodes = 0
        self.bound = _comprehension_names(tree)

    def refuse(self, what: str) -> UnsafeExpressionError:
        return UnsafeExpressionError(f"{what} is not allowed in a condition (in {self.expression!r})")

    def check(self, node: ast.AST, depth: int = 0, parent: ast.AST | None = None) -> None:
        self.nodes += 1
        if self.nodes > g.MAX_NODES:
            raise g.too_big("the condition's syntax tree (in nodes)", self.nodes, g.MAX_NODES)
        if depth > g.MAX_DEPTH:
            raise ExpressionLimitError(f"condition {self.expression!r} nests deeper than {g.MAX_DEPTH} levels")
        if not isinstance(node, _ALLOWED_NODES):
            raise self.refuse(type(node).__name__)
        self.check_node(node, parent)
        for child in ast.iter_child_nodes(node):
            self.check(child, depth + 1, node)

    def check_node(self, node: ast.AST, parent: ast.AST | None) -> None:
        if isinstance(node, ast.Constant) and not isinstance(node.value, _CONSTANT_TYPES):
            raise self.refuse(f"the constant {node.value!r}")
        elif isinstance(node, ast.Name):
            self.check_name(node.id)
        elif isinstance(node, ast.Attribute):
            if not (isinstance(parent, ast.Call) and parent.func is node):
                raise self.refuse(f"reading the attribute {node.attr!r} (only listed methods may be called)")
            if node.attr not in m.METHOD_NAMES:
                raise self.refuse(f"the method {node.attr!r}")
        elif isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name) and node.func.id not in g.SAFE_NAMES:
                raise self.refuse(f"calling {node.func.id!r}")
            if not isinstance(node.func, (ast.Name, ast.Attribute)):
                raise self.refuse("calling the result of an expression")
        elif isinstance(node, ast.keyword) and node.arg is None:
            raise self.refuse("** in a call")
        elif isinstance(node, ast.Dict) and any(key is None for key in node.keys):
            raise self.refuse("** in a dict")
        elif isinstance(node, ast.comprehension) and node.is_async:
            raise self.refuse("async comprehension")

    def check_name(self, name: str) -> None:
        if name.startswith("_"):
            raise self.refuse(f"the name {name!r}")
        if name not in ROOT_NAMES and name not in g.SAFE_NAMES and name not in self.bound:
            raise self.refuse(f"the name {name!r} (use data, config, stats or a comprehension variable)")


def _comprehension_names(tree: ast.Expression) -> set[str]:
    """Names bound by the expression's comprehension targets; they may not shadow a builtin."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.comprehension):
            for target in ast.walk(node.target):
                if isinstance(target, ast.Name):
                    if target.id in g.SAFE_NAMES or target.id.startswith("_"):
                        raise UnsafeExpressionError(f"the comprehension variable {target.id!r} is not allowed")
                    names.add(target.id)
                elif not isinstance(target, (ast.Tuple, ast.List, ast.Store)):
                    raise UnsafeExpressionError("a comprehension may only bind plain names")
    return names
