"""The safe evaluator against plain ``eval`` on the same condition expressions, side by side.

    PYTHONPATH=. python bench/conditions.py [--rounds 5] [--calls 20000]

Baseline: ``eval`` of the expression's cached code object with only ``data``,
``config`` and ``stats`` in scope (what ConditionalRouter did before the safe
evaluator). Both sides evaluate every expression ``--calls`` times per round;
the best round counts. Prints microseconds per evaluation for each, and the
ratio safe / eval.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from routilux.builtin_routines._expressions import evaluate_condition

EXPRESSIONS = {
    "field compare": "data.get('priority') == 'high'",
    "two fields": "data['value'] > config.get('threshold', 0) and data['region'] in ('eu', 'us')",
    "string methods": "data['name'].lower().startswith('order')",
    "generator over 20 items": "any(item['qty'] > 5 for item in data['items'])",
}
DATA = {"priority": "high", "value": 15, "region": "eu", "name": "Order-7",
        "items": [{"sku": f"s{i}", "qty": i % 7} for i in range(20)]}
CONFIG = {"threshold": 10}


def best_us(func: Any, calls: int, rounds: int) -> float:
    """Best round's microseconds per call."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            func()
        best = min(best, (time.perf_counter() - started) / calls * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20000)
    args = parser.parse_args()
    results = {}
    for name, expression in EXPRESSIONS.items():
        code = compile(expression, "<condition>", "eval")
        scope = {"__builtins__": {"any": any}, "data": DATA, "config": CONFIG, "stats": {}}
        assert eval(code, scope) == evaluate_condition(expression, DATA, CONFIG, {})  # noqa: S307
        baseline = best_us(lambda: eval(code, dict(scope)), args.calls, args.rounds)  # noqa: S307
        safe = best_us(lambda: evaluate_condition(expression, DATA, CONFIG, {}), args.calls, args.rounds)
        results[name] = {"eval_us": round(baseline, 2), "safe_us": round(safe, 2), "ratio": round(safe / baseline, 1)}
        print(f"{name:26} eval {baseline:7.2f} us   safe {safe:7.2f} us   safe/eval {safe / baseline:5.1f}x")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
