"""The tree walker that evaluates a checked condition expression.

Each node evaluated and each comprehension iteration costs one step; past
``MAX_STEPS`` the evaluation stops with ExpressionLimitError. Operators, calls
and methods go through ``_guards``, which bound the size of what they build.
Work done in C (building, comparing, hashing, printing values) is charged in
work units before it happens: past ``MAX_WORK`` the evaluation stops too, so
time is bounded even where one small value stands for a huge structure.
Only trees that ``_expressions`` has checked reach this module.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator, Mapping
from typing import Any, Callable

from routilux.builtin_routines import _guards as g
from routilux.builtin_routines import _methods as m
from routilux.errors import ExpressionLimitError

Scope = dict[str, Any]
_SCALARS = frozenset({bool, float, type(None)})


class Walker:
    """Evaluates one expression once; not shared between threads or evaluations."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.steps = 0
        self.work = 0

    def tick(self) -> None:
        """Count one step; raise once the budget is spent."""
        self.steps += 1
        if self.steps > g.MAX_STEPS:
            raise ExpressionLimitError(
                f"condition {self.expression!r} took more than {g.MAX_STEPS:,} steps and was stopped"
            )

    def spend(self, units: int) -> None:
        """Charge work units; raise once the budget is spent."""
        self.work += units
        if self.work > g.MAX_WORK:
            raise ExpressionLimitError(
                f"condition {self.expression!r} needs more than {g.MAX_WORK:,} units of work "
                "(values too large to build, compare or print) and was stopped"
            )

    def weigh(self, *values: Any) -> None:
        """Charge the weight of ``values`` (what comparing, hashing or printing them costs)."""
        for value in values:
            kind = type(value)
            if kind is int:
                self.work += 1 + (value.bit_length() >> 6)
            elif kind is str:
                self.work += 1 + (len(value) >> 3)
            elif kind in _SCALARS:
                self.work += 1
            else:
                self.work += g.weigh(value, g.MAX_WORK - self.work)
        self.spend(0)

    def run(self, node: ast.AST, scope: Scope) -> Any:
        """Evaluate ``node`` in ``scope``."""
        self.steps += 1
        if self.steps > g.MAX_STEPS:
            self.tick()
        return _HANDLERS[type(node)](self, node, scope)

    # -- leaves and operators -------------------------------------------------
    def constant(self, node: ast.Constant, scope: Scope) -> Any:
        return node.value

    def name(self, node: ast.Name, scope: Scope) -> Any:
        try:
            return scope[node.id]
        except KeyError:
            pass
        try:
            return g.SAFE_NAMES[node.id]  # builtins cannot be shadowed (the checker sees to it)
        except KeyError:
            raise NameError(f"name {node.id!r} is not defined here") from None

    def bool_op(self, node: ast.BoolOp, scope: Scope) -> Any:
        value: Any = None
        for operand in node.values:
            value = self.run(operand, scope)
            if bool(value) is isinstance(node.op, ast.Or):
                return value
        return value

    def bin_op(self, node: ast.BinOp, scope: Scope) -> Any:
        result = g.BIN_OPS[type(node.op)](self.run(node.left, scope), self.run(node.right, scope))
        self.spend(g.cost(result))
        return result

    def unary_op(self, node: ast.UnaryOp, scope: Scope) -> Any:
        return g.UNARY_OPS[type(node.op)](self.run(node.operand, scope))

    def compare(self, node: ast.Compare, scope: Scope) -> Any:
        left = self.run(node.left, scope)
        for op, comparator in zip(node.ops, node.comparators):
            right = self.run(comparator, scope)
            if isinstance(op, (ast.In, ast.NotIn)):
                right = self.materialize(right)
            hashed = isinstance(op, (ast.In, ast.NotIn)) and isinstance(right, (Mapping, set, frozenset))
            self.weigh(left) if hashed else self.weigh(left, right)
            if not g.COMPARE_OPS[type(op)](left, right):
                return False
            left = right
        return True

    def if_exp(self, node: ast.IfExp, scope: Scope) -> Any:
        return self.run(node.body if self.run(node.test, scope) else node.orelse, scope)

    # -- calls and indexing ---------------------------------------------------
    def call(self, node: ast.Call, scope: Scope) -> Any:
        weigh_args, compares_items = True, False
        if isinstance(node.func, ast.Attribute):
            target = self.run(node.func.value, scope)
            func = m.method_of(target, node.func.attr)
            # A string method walks its string; a lookup only hashes its key; the rest compare items.
            if isinstance(target, str):
                self.spend(g.cost(target))
            elif node.func.attr not in m.MAPPING_METHODS:
                self.weigh(target)
        else:
            value = g.SAFE_NAMES[node.func.id]  # type: ignore[attr-defined]
            func = g.CALLS.get(value, value)
            weigh_args = value not in g.CONSTANT_TIME
            compares_items = value in g.COMPARES_ITEMS
        args = [self.run(arg, scope) for arg in node.args]
        kwargs = {kw.arg: self.run(kw.value, scope) for kw in node.keywords if kw.arg}
        if compares_items:
            # Sorting, min/max and hashing compare or hash items: an iterator's items are weighed too.
            args = [self.materialize(a) for a in args]
        if weigh_args:
            self.weigh(*args, *kwargs.values())
        result = func(*args, **kwargs)
        self.spend(g.cost(result))
        return result

    def materialize(self, value: Any) -> Any:
        """A list of an iterator's items (each already paid for in steps), so they can be weighed."""
        if isinstance(value, Iterator):
            items = []
            for item in value:
                self.spend(1)
                items.append(item)
            return items
        return value

    def subscript(self, node: ast.Subscript, scope: Scope) -> Any:
        value = self.run(node.value, scope)
        m.check_subscriptable(value)
        index = self.run(node.slice, scope)
        self.weigh(index)
        result = value[index]
        if isinstance(index, slice):
            self.spend(g.cost(result))
        return result

    def slice(self, node: ast.Slice, scope: Scope) -> slice:
        parts = (node.lower, node.upper, node.step)
        return slice(*(None if part is None else self.run(part, scope) for part in parts))

    # -- displays -------------------------------------------------------------
    def tuple(self, node: ast.Tuple, scope: Scope) -> tuple[Any, ...]:
        return tuple(self.run(e, scope) for e in node.elts)

    def list(self, node: ast.List, scope: Scope) -> list[Any]:
        return [self.run(e, scope) for e in node.elts]

    def set(self, node: ast.Set, scope: Scope) -> set[Any]:
        return {self.hashed(self.run(e, scope)) for e in node.elts}

    def dict(self, node: ast.Dict, scope: Scope) -> dict[Any, Any]:
        pairs = zip(node.keys, node.values)
        return {self.hashed(self.run(k, scope)): self.run(v, scope) for k, v in pairs if k is not None}

    def hashed(self, key: Any) -> Any:
        """Charge hashing ``key`` (a set item or dict key) and return it."""
        self.weigh(key)
        return key

    # -- comprehensions ---------------------------------------------------------
    def list_comp(self, node: ast.ListComp, scope: Scope) -> list[Any]:
        return [self.run(node.elt, inner) for inner in self.iterate(node.generators, dict(scope))]

    def set_comp(self, node: ast.SetComp, scope: Scope) -> set[Any]:
        return {self.hashed(self.run(node.elt, inner)) for inner in self.iterate(node.generators, dict(scope))}

    def dict_comp(self, node: ast.DictComp, scope: Scope) -> dict[Any, Any]:
        pairs = self.iterate(node.generators, dict(scope))
        return {self.hashed(self.run(node.key, inner)): self.run(node.value, inner) for inner in pairs}

    def generator(self, node: ast.GeneratorExp, scope: Scope) -> Iterator[Any]:
        # Lazy, as in Python: any()/all() stop early. It keeps its own scope.
        return (self.run(node.elt, inner) for inner in self.iterate(node.generators, dict(scope)))

    def iterate(self, generators: list[ast.comprehension], scope: Scope, index: int = 0) -> Iterator[Scope]:
        """Yield ``scope`` once per combination of the comprehension's loops that passes its ifs."""
        first = generators[index]
        for item in self.run(first.iter, scope):
            self.tick()
            self.bind(first.target, item, scope)
            if all(self.run(test, scope) for test in first.ifs):
                if index + 1 == len(generators):
                    yield scope
                else:
                    yield from self.iterate(generators, scope, index + 1)

    def bind(self, target: ast.AST, value: Any, scope: Scope) -> None:
        """Assign a loop value to a comprehension target (a name, or a tuple of targets)."""
        if isinstance(target, ast.Name):
            scope[target.id] = value
            return
        elts = target.elts  # type: ignore[attr-defined]
        values = list(itertools.islice(value, len(elts) + 1))
        if len(values) != len(elts):
            raise ValueError(f"cannot unpack {len(values)} values into {len(elts)} names")
        for sub, item in zip(elts, values):
            self.bind(sub, item, scope)


_HANDLERS: dict[type, Callable[[Walker, Any, Scope], Any]] = {
    ast.Constant: Walker.constant, ast.Name: Walker.name, ast.BoolOp: Walker.bool_op,
    ast.BinOp: Walker.bin_op, ast.UnaryOp: Walker.unary_op, ast.Compare: Walker.compare,
    ast.IfExp: Walker.if_exp, ast.Call: Walker.call, ast.Subscript: Walker.subscript,
    ast.Slice: Walker.slice, ast.Tuple: Walker.tuple, ast.List: Walker.list, ast.Set: Walker.set,
    ast.Dict: Walker.dict, ast.ListComp: Walker.list_comp, ast.SetComp: Walker.set_comp,
    ast.DictComp: Walker.dict_comp, ast.GeneratorExp: Walker.generator,
}  # fmt: skip
