"""The safe evaluator of condition expressions: what it allows, what it refuses, and its bounds."""

from __future__ import annotations

import copy
import sys
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routilux.builtin_routines._expressions import compile_condition, evaluate_condition
from routilux.builtin_routines._guards import SAFE_NAMES
from routilux.errors import ExpressionError, ExpressionLimitError, UnsafeExpressionError

pytestmark = pytest.mark.timeout(60)

DATA = {"priority": "high", "value": 15, "tags": ["a", "b"], "nested": {"k": [1, 2, 3]}, "name": "Order-7"}


def ev(expression: str, data: Any = None, config: dict[str, Any] | None = None, stats: dict[str, Any] | None = None) -> Any:
    return evaluate_condition(expression, copy.deepcopy(DATA) if data is None else data, config or {}, stats or {})


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("data.get('priority') == 'high'", True),
        ("data['value'] > config.get('threshold', 0)", True),
        ("stats.get('count', 0) < 10", True),
        ("'a' in data['tags'] and not 'z' in data['tags']", True),
        ("len(data['nested']['k']) == 3 and sum(data['nested']['k']) == 6", True),
        ("any(x > 2 for x in data['nested']['k'])", True),
        ("all(isinstance(t, str) for t in data['tags'])", True),
        ("[x * 2 for x in data['nested']['k'] if x > 1]", [4, 6]),
        ("{k: len(v) for k, v in data.items() if isinstance(v, list)}", {"tags": 2}),
        ("data['name'].lower().startswith('order') and data['name'].split('-')[1] == '7'", True),
        ("'high' if data['value'] >= 10 else 'low'", "high"),
        ("1 < data['value'] <= 15", True),
        ("sorted(data['tags'], reverse=True)[0]", "b"),
        ("max(data['nested']['k'], key=abs) + round(2.567, 2)", 5.57),
        ("2 ** 10 + 7 // 2 - 3 % 2", 1026),
        ("data['name'][:5]", "Order"),
        ("set(data['tags']).issubset({'a', 'b', 'c'})", True),
        ("', '.join(data['tags'])", "a, b"),
        ("[i for i, t in enumerate(data['tags'])]", [0, 1]),
    ],
)
def test_the_evaluator_computes_ordinary_conditions(expression: str, expected: Any) -> None:
    assert ev(expression, config={"threshold": 10}, stats={"count": 3}) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "().__class__.__bases__[0].__subclasses__()",  # the classic dunder walk
        "data.__class__",
        "data.get.__self__",
        "'{0.__class__}'.format(data)",  # format-string attribute access
        "'{x.__init__.__globals__}'.format_map({'x': data})",
        "f'{data!r:>99999999}'",  # an f-string with a huge width
        "__import__('os').system('true')",
        "getattr(data, '__class__')",
        "eval('1')",
        "open('/etc/passwd')",
        "type(data)",
        "(lambda: 1)()",
        "(x := 1)",
        "[_x for _x in data]",
        "[len for len in data]",
        "data.pop('priority')",  # methods that mutate are not listed
        "data['tags'].append(1)",
        "data.update({})",
        "data.items().mapping",
        "str.lower('A')",
        "len.__call__(data)",
        "sorted(data)(1)",
        "max(*data)",
        "dict(**data)",
        "{**data}",
        "1j * 2",
        "...",
    ],
)
def test_the_evaluator_refuses_known_escape_shapes(expression: str) -> None:
    with pytest.raises(ExpressionError, match="not allowed"):
        ev(expression)


@pytest.mark.parametrize(
    "expression",
    [
        "9**9**9**9 > 0",
        "2 ** 100000",
        "(10**1000) * (10**1000) * (10**1000) * (10**1000) * (10**1000)",
        "1 << 10**9",
        "'a' * 10**9",
        "[0] * 10**9",
        "('a',) * 10**6",
        "'ab'.replace('', 'x' * 1000) * 1000",
        "'x'.zfill(10**9)",
        "'x'.center(10**9)",
        "', '.join(['a' * 99999, 'b' * 99999])",
        "list(range(10**9))",
        "[x for x in range(10**5) for y in range(10**5)]",
        "sum(1 for x in range(99999))",
        "len(str([[[[1] * 100] * 100] * 100] * 100))",  # shared structure printed: 10**8 items
        "[[1] * 1000] * 1000 == [[1] * 1000] * 1000",
        "{(((1,) * 100,) * 100,) * 100}",  # hashing a tuple built by repetition
        "[[1] * 99999 for x in range(1000)]",
        "sorted([[1] * 1000] * 1000 for x in range(100))",  # items of a generator compared
        "set(((1,) * 1000,) * 1000 for x in range(100))",  # ...or hashed
        "max({'a': [[1] * 1000] * 1000, 'b': [[1] * 1000] * 1000}.values())",  # a dict view's items compared
        "[[1] * 1000] * 1000 in ([[1] * 1000] * 1000 for x in range(10))",
        "round(1, -10**9)",
        "int('9' * 5000)",
        "'%099999999d' % 1",
    ],
)
def test_the_evaluator_stops_expensive_expressions_with_a_clear_error(expression: str) -> None:
    started = time.monotonic()
    with pytest.raises(ExpressionError) as caught:
        ev(expression)
    assert time.monotonic() - started < 10  # a generous safety bound, not a performance claim
    assert "condition" in str(caught.value)


def test_the_exponent_tower_fails_with_a_message_naming_the_limit() -> None:
    with pytest.raises(ExpressionLimitError, match="exponent of \\*\\* would be 387,420,489 over the limit"):
        ev("9**9**9**9 > 0")


def test_the_evaluator_refuses_too_long_or_too_deep_expressions() -> None:
    with pytest.raises(ExpressionLimitError):
        compile_condition("1 + " * 2000 + "1")
    with pytest.raises(ExpressionError):
        compile_condition("[" * 60 + "]" * 60)
    with pytest.raises(ExpressionError):
        compile_condition("not " * 100 + "True")


def test_methods_come_from_the_builtin_type_not_from_a_subclass_in_the_data() -> None:
    class Sneaky(dict):
        def get(self, *args: Any) -> Any:
            raise AssertionError("the evaluator called a method the data defined")

    assert ev("data.get('a')", data=Sneaky(a=1)) == 1


def test_syntax_errors_are_expression_errors_that_name_the_expression() -> None:
    with pytest.raises(ExpressionError, match="not a valid expression"):
        compile_condition("data[")
    with pytest.raises(UnsafeExpressionError, match="not allowed"):
        compile_condition("data.__dict__")


# -- fuzzing -------------------------------------------------------------------------
# Fragments that reach for escapes and blow-ups, glued into random expressions.
ATOMS = ["data", "config", "stats", "1", "9", "10**9", "-1", "2.5", "'a'", "'{0}'", "[]", "[1, 2]", "()", "{}",
         "{'k': data}", "len", "str", "range(3)", "True", "None", "x", "__class__", "_", "data['tags']"]
OPS = [" + ", " * ", " ** ", " << ", " % ", " // ", " == ", " < ", " in ", " and ", " or ", " if 1 else ", ", ", "."]
WRAPS = ["({})", "[{}]", "len({})", "str({})", "sorted({})", "[{} for x in range(5)]", "{}.get('k')",
         "{}.__class__", "{}.format(data)", "{}.join(['a'])", "sum({})", "not {}", "-{}", "{}[0]", "{}[::-1]",
         "{{{}}}", "{} * 99999", "max({}, key=len)", "set({})", "({} for x in range(9))", "{}.values()",
         "sorted({} for y in range(50))", "{0} in ({0} for z in range(9))"]

_expressions = st.recursive(
    st.sampled_from(ATOMS),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(OPS), inner).map("".join),
        st.tuples(st.sampled_from(WRAPS), inner).map(lambda t: t[0].format(t[1])),
    ),
    max_leaves=12,
)
ALLOWED_FAILURES = (ExpressionError, ArithmeticError, LookupError, TypeError, ValueError, NameError)


def _check_one(expression: str) -> None:
    data = copy.deepcopy(DATA)
    modules = set(sys.modules)
    started = time.monotonic()
    try:
        result = evaluate_condition(expression, data, {"k": 1}, {})
    except ALLOWED_FAILURES:
        result = None
    assert time.monotonic() - started < 5, expression  # generous safety bound
    assert data == DATA, f"{expression!r} changed its data"
    assert set(sys.modules) == modules, f"{expression!r} imported {set(sys.modules) - modules}"
    builtins = list(SAFE_NAMES.values())
    assert not callable(result) or any(result is b for b in builtins), f"{expression!r} leaked {result!r}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_expressions)
def test_fuzzed_expressions_never_crash_escape_or_run_unbounded(expression: str) -> None:
    _check_one(expression)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="()[]{}.*+-<>=!%,:'\"_ abcdefxyz019ldgt", max_size=40))
def test_random_text_is_either_a_valid_expression_or_an_expression_error(text: str) -> None:
    try:
        compile_condition(text)
    except ExpressionError:
        return
    _check_one(text)
