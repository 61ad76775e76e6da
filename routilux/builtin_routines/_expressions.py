"""Restricted evaluation of ConditionalRouter's string conditions.

This is a guard against mistakes, not a sandbox for hostile input: names are
limited to ``data``, ``config``, ``stats`` and a few harmless builtins, and
any name or attribute starting with an underscore is refused, which closes
the usual ``().__class__.__subclasses__()`` escape. Flows should still only
be loaded from trusted sources.
"""

from __future__ import annotations

import ast
import functools
from types import CodeType
from typing import Any

SAFE_BUILTINS: dict[str, Any] = {
    "len": len, "isinstance": isinstance, "str": str, "int": int, "float": float, "bool": bool,
    "dict": dict, "list": list, "tuple": tuple, "set": set, "min": min, "max": max, "abs": abs,
    "any": any, "all": all, "sum": sum, "round": round, "sorted": sorted,
    "True": True, "False": False, "None": None,
}  # fmt: skip


class UnsafeExpressionError(ValueError):
    """A condition expression uses a construct the restricted evaluator refuses."""


@functools.lru_cache(maxsize=512)
def compile_condition(expression: str) -> CodeType:
    """Parse and check ``expression`` once; return its compiled code (cached, thread-safe)."""
    tree = ast.parse(expression.strip(), mode="eval")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise UnsafeExpressionError(f"attribute {node.attr!r} is not allowed in a condition")
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise UnsafeExpressionError(f"name {node.id!r} is not allowed in a condition")
        if isinstance(node, (ast.Lambda, ast.NamedExpr)):
            raise UnsafeExpressionError(f"{type(node).__name__} is not allowed in a condition")
    return compile(tree, "<condition>", "eval")


def evaluate_condition(expression: str, data: Any, config: dict[str, Any], stats: dict[str, Any]) -> Any:
    """Evaluate ``expression`` with only ``data``, ``config``, ``stats`` and the safe builtins."""
    code = compile_condition(expression)
    # Globals rather than locals: comprehensions in the expression must see these names too
    scope = {"__builtins__": SAFE_BUILTINS, "data": data, "config": config, "stats": stats}
    return eval(code, scope)  # noqa: S307 - restricted, see module docstring
