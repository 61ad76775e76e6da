"""Turn a lambda or one-expression function into a condition expression for the safe evaluator.

The function's own source is parsed (never run); its parameters become
``data``, ``config`` and ``stats`` in order, and free names bound to plain
constants (closure cells, module globals) are inlined as those constants.
Anything else (a call to a helper, an attribute read) cannot be expressed and
raises NotExpressible, naming what stood in the way.
"""

from __future__ import annotations

import ast
import inspect
import linecache
import textwrap
from typing import Any, Callable

from routilux.builtin_routines._expressions import ROOT_NAMES, compile_condition
from routilux.builtin_routines._guards import SAFE_NAMES
from routilux.errors import ExpressionError

_PLAIN = (str, int, float, bool, type(None))


class NotExpressible(Exception):
    """A callable condition cannot be written as a safe expression (the message says why)."""


def is_lambda(fn: Callable[..., Any]) -> bool:
    """Tell whether ``fn`` is a lambda."""
    return getattr(fn, "__name__", "") == "<lambda>"


def expression_of(fn: Callable[..., Any]) -> str:
    """Return the condition expression equivalent to lambda or one-expression function ``fn``.

    Raises:
        NotExpressible: no source, several statements, or something the safe evaluator refuses.
    """
    code = getattr(fn, "__code__", None)
    if code is None:
        raise NotExpressible(f"{fn!r} is not a Python function")
    params = _parameters(fn)
    body = _lambda_body(fn) if is_lambda(fn) else _return_expression(fn)
    renamed = _Rename(dict(zip(params, ("data", "config", "stats"))), _free_values(fn, params)).visit(body)
    expression = ast.unparse(ast.fix_missing_locations(renamed))
    try:
        compile_condition(expression)
    except ExpressionError as exc:
        raise NotExpressible(str(exc)) from None
    return expression


def _parameters(fn: Callable[..., Any]) -> list[str]:
    code = fn.__code__  # type: ignore[attr-defined]
    if code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS) or code.co_kwonlyargcount:
        raise NotExpressible("a condition written as an expression takes only (data[, config[, stats]])")
    params = list(code.co_varnames[: code.co_argcount])
    if len(params) > 3:
        raise NotExpressible("a condition takes at most three parameters: data, config, stats")
    return params


def _lambda_body(fn: Callable[..., Any]) -> ast.expr:
    """Find ``fn``'s lambda in its source file by line and position, and return its body."""
    code = fn.__code__  # type: ignore[attr-defined]
    lines = linecache.getlines(code.co_filename)
    if not lines:
        raise NotExpressible("its source is not available")
    candidates = [n for n in _lambdas_on_line(lines, code.co_firstlineno) if _same_parameters(n, code)]
    positions = [p for p in getattr(code, "co_positions", lambda: ())() if p[0] is not None]
    if len(candidates) > 1 and positions:
        line, _, col, _ = positions[0]
        candidates = [n for n in candidates if _encloses(n.body, line, col)] or candidates
    if len(candidates) != 1:
        raise NotExpressible("its lambda cannot be told apart from others on the same line")
    return candidates[0].body


def _lambdas_on_line(lines: list[str], lineno: int) -> list[ast.Lambda]:
    """Parse the smallest run of lines around ``lineno`` that parses, and return its lambdas there."""
    for start in range(lineno - 1, max(-1, lineno - 40), -1):
        for end in range(lineno, min(len(lines), lineno + 40) + 1):
            tree = _parse_indented("".join(lines[start:end]))
            if tree is not None:
                found = [n for n in ast.walk(tree) if isinstance(n, ast.Lambda)]
                return [n for n in found if n.lineno + start == lineno]
    raise NotExpressible("its source could not be parsed")


def _parse_indented(snippet: str) -> ast.Module | None:
    """Parse lines cut from a file, keeping their columns (an indented block goes under ``if 1:``)."""
    for prefix in ("", "if 1:\n"):
        try:
            tree = ast.parse(prefix + snippet)
        except SyntaxError:
            continue
        if prefix:
            ast.increment_lineno(tree, -1)
        return tree
    return None


def _same_parameters(node: ast.Lambda, code: Any) -> bool:
    return [a.arg for a in node.args.args] == list(code.co_varnames[: code.co_argcount])


def _encloses(node: ast.expr, line: int, col: int) -> bool:
    start = (node.lineno, node.col_offset)
    end = (node.end_lineno or node.lineno, node.end_col_offset or 0)
    return start <= (line, col) <= end


def _return_expression(fn: Callable[..., Any]) -> ast.expr:
    """Return the expression of a function whose body is one ``return`` (after a docstring)."""
    try:
        source = textwrap.dedent(inspect.getsource(fn))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        raise NotExpressible("its source is not available") from None
    func = tree.body[0] if tree.body else None
    if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)) or func.decorator_list:
        raise NotExpressible("it is not a plain function definition")
    body = func.body[1:] if _is_docstring(func.body[0]) else func.body
    if len(body) != 1 or not isinstance(body[0], ast.Return) or body[0].value is None:
        raise NotExpressible("its body is more than one return statement")
    return body[0].value


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _free_values(fn: Callable[..., Any], params: list[str]) -> dict[str, Any]:
    """Values of the function's free names that are plain constants (closure cells, then globals)."""
    code = fn.__code__  # type: ignore[attr-defined]
    names: set[str] = set()
    stack = [code]
    while stack:  # comprehensions are nested code objects with their own names
        current = stack.pop()
        names.update(current.co_names)
        stack.extend(c for c in current.co_consts if inspect.iscode(c))
    namespace = getattr(fn, "__globals__", {})
    values = {name: namespace[name] for name in names if name in namespace}
    for name, cell in zip(code.co_freevars, getattr(fn, "__closure__", None) or ()):
        try:
            values[name] = cell.cell_contents
        except ValueError:  # an empty cell
            continue
    return {k: v for k, v in values.items() if k not in params and _is_plain(v)}


def _is_plain(value: Any, depth: int = 0) -> bool:
    if isinstance(value, _PLAIN):
        return True
    if isinstance(value, (list, tuple, set, frozenset)) and depth < 3 and len(value) <= 100:
        return all(_is_plain(v, depth + 1) for v in value)
    return False


class _Rename(ast.NodeTransformer):
    """Parameters to data/config/stats; free names to their constant values; others left to the check."""

    def __init__(self, renames: dict[str, str], constants: dict[str, Any]) -> None:
        self.renames = renames
        self.constants = constants
        self.local: set[str] = set()

    def visit_comprehension(self, node: ast.comprehension) -> ast.AST:
        for target in ast.walk(node.target):
            if isinstance(target, ast.Name):
                if target.id in self.renames or target.id in ROOT_NAMES:
                    raise NotExpressible(f"its comprehension variable {target.id!r} hides a parameter")
                self.local.add(target.id)
        return self.generic_visit(node)

    def visit_ListComp(self, node: ast.AST) -> ast.AST:
        return self._comprehension_first(node)

    visit_SetComp = visit_GeneratorExp = visit_DictComp = visit_ListComp

    def _comprehension_first(self, node: Any) -> ast.AST:
        # Targets must be known before the element that uses them is visited.
        node.generators = [self.visit(g) for g in node.generators]
        for field in ("elt", "key", "value"):
            if hasattr(node, field):
                setattr(node, field, self.visit(getattr(node, field)))
        return node

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in self.renames:
            return ast.copy_location(ast.Name(self.renames[node.id], node.ctx), node)
        if node.id in self.local or node.id in SAFE_NAMES:
            return node
        if node.id in ROOT_NAMES:
            raise NotExpressible(f"it reads {node.id!r}, which is not one of its parameters")
        if node.id in self.constants:
            return ast.copy_location(ast.parse(repr(self.constants[node.id]), mode="eval").body, node)
        raise NotExpressible(f"it uses {node.id!r}, which is neither a parameter nor a plain constant")
