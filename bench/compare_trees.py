"""Compare this tree with a baseline checkout of Routilux on the repo's benchmarks, in one run.

Usage (from the repo root)::

    git worktree add /tmp/routilux-base main        # or any commit to compare against
    .venv/bin/python bench/compare_trees.py --baseline /tmp/routilux-base

Local: this tree's ``bench/local_engine.py`` runs once with the baseline on
``PYTHONPATH`` and once with this tree, alternating, ``--rounds`` times, for
each execution strategy (sequential, concurrent). Distributed: each tree's own
``bench/compare_distributed.py`` (its workers and its driver) runs, alternating,
``--rounds`` times; each invocation also measures plain Celery, so each side
has its ratio to raw as well. Prints medians and the ratios this/baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="root of the baseline checkout")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs per side")
    parser.add_argument("--strategies", default="sequential,concurrent")
    parser.add_argument("--skip-local", action="store_true")
    parser.add_argument("--skip-distributed", action="store_true")
    parser.add_argument("--distributed-runs", type=int, default=7, help="--runs of compare_distributed.py")
    parser.add_argument("--distributed-scenarios", default="sequential,fanout",
                        help="--scenarios of compare_distributed.py")
    return parser.parse_args(argv)


def local_once(tree: Path, strategy: str) -> dict[str, Any]:
    """One run of local_engine.py (throughput and latency) against ``tree``'s routilux."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, str(BENCH / "local_engine.py"), "--scenarios", "throughput,latency",
               "--strategy", strategy]
    out = subprocess.run(command, env=env, cwd=tree, capture_output=True, text=True, timeout=900, check=True)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    if not data["module"].startswith(str(tree)):
        raise RuntimeError(f"ran {data['module']}, not {tree}")
    return {"invocations/s": data["throughput"]["invocations_per_s"], "latency ms": data["latency"]["median_ms"]}


def distributed_once(tree: Path, runs: int, scenarios: str) -> dict[str, Any]:
    """One run of ``tree``'s compare_distributed.py; our and raw medians per scenario."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "out.json"
        command = [sys.executable, str(tree / "bench" / "compare_distributed.py"), "--runs", str(runs),
                   "--scenarios", scenarios, "--json", str(path)]
        done = subprocess.run(command, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)},
                              capture_output=True, text=True, timeout=1800)
        if not path.exists():  # it exits 1 when a goal is missed, but still writes its figures
            raise RuntimeError(f"{command} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        data = json.loads(path.read_text())
    figures = {}
    for name, scenario in data["scenarios"].items():
        figures[f"{name} ours ({scenario['unit']})"] = scenario["median"]["ours"]
        figures[f"{name} ours/raw"] = scenario["ratio"]
    return figures


def median_table(rows: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Per side, the median of each figure over the rounds."""
    return {side: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for side, runs in rows.items()}


def report(title: str, medians: dict[str, dict[str, float]]) -> None:
    """Print one table: figure, baseline, this tree, ratio."""
    print(f"\n{title}")
    print(f"{'figure':32} {'baseline':>12} {'this tree':>12} {'this/base':>10}")
    for key, base in medians["baseline"].items():
        ours = medians["this"][key]
        print(f"{key:32} {base:12.4g} {ours:12.4g} {ours / base:10.3f}")


def main(argv: list[str] | None = None) -> int:
    """Run both trees alternately and print the tables."""
    args = parse_args(argv)
    trees = {"baseline": Path(args.baseline).resolve(), "this": REPO}
    if not args.skip_local:
        for strategy in args.strategies.split(","):
            rows: dict[str, list[dict[str, float]]] = {"baseline": [], "this": []}
            for index in range(args.rounds):
                order = ("baseline", "this") if index % 2 == 0 else ("this", "baseline")
                for side in order:
                    rows[side].append(local_once(trees[side], strategy))
                    print(f"local {strategy} {side}: {rows[side][-1]}", file=sys.stderr, flush=True)
            report(f"local engine, {strategy} (median of {args.rounds})", median_table(rows))
    if not args.skip_distributed:
        rows = {"baseline": [], "this": []}
        for index in range(args.rounds):
            order = ("baseline", "this") if index % 2 == 0 else ("this", "baseline")
            for side in order:
                rows[side].append(distributed_once(trees[side], args.distributed_runs, args.distributed_scenarios))
                print(f"distributed {side}: {rows[side][-1]}", file=sys.stderr, flush=True)
        report(f"distributed engine (median of {args.rounds} invocations)", median_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
