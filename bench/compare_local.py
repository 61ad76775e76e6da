"""Run bench/local_engine.py on upstream Routilux 0.10.0 and on this repo, and compare.

Usage (from the repo root, with the project's interpreter)::

    bench/upstream_venv.sh                      # once: creates bench/.venv-upstream
    .venv/bin/python bench/compare_local.py     # about a minute

Both sides run the same script, one after the other (never at the same time),
in separate processes. Prints a table of both figures and their ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SCRIPT = BENCH / "local_engine.py"
UPSTREAM_PYTHON = BENCH / ".venv-upstream" / "bin" / "python"

# Targets from the issue.
THROUGHPUT_TARGET = 10.0  # ours / upstream
LATENCY_TARGET_MS = 1.0  # ours, median


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ours-python", default=sys.executable, help="interpreter for this repo")
    parser.add_argument("--upstream-python", default=str(UPSTREAM_PYTHON))
    parser.add_argument("--latency-runs", type=int, default=50, help="ours (upstream uses --upstream-latency-runs)")
    parser.add_argument(
        "--upstream-latency-runs", type=int, default=10,
        help="upstream takes ~0.35 s per run, so fewer runs",
    )
    parser.add_argument("--history-sizes", default="1000,100000")
    parser.add_argument(
        "--upstream-history-budget", type=float, default=120.0,
        help="seconds one upstream history execution may run before it is cut short",
    )
    parser.add_argument("--no-gc", action="store_true", help="run both sides with Python's cyclic GC off")
    parser.add_argument("--json", dest="json_path", default=None, help="also write both results here")
    return parser.parse_args(argv)


# --------------------------------------------------------------------------- running


def run_side(name: str, python: str, env: dict[str, str], extra: list[str], limit_s: float) -> dict[str, Any]:
    """Run the benchmark script under ``python``; return its JSON line (or an error record)."""
    command = [python, str(SCRIPT), "--label", name, *extra]
    print(f"running {name}: {' '.join(command)}", file=sys.stderr, flush=True)
    started = time.monotonic()
    try:
        done = subprocess.run(
            command, env=env, cwd=str(BENCH), capture_output=True, text=True, timeout=limit_s
        )
    except subprocess.TimeoutExpired:
        return {"implementation": name, "fatal": f"killed after {limit_s:.0f} s"}
    print(f"  {name} took {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = "\n".join((done.stderr or done.stdout).splitlines()[-30:])
        return {"implementation": name, "fatal": f"exit status {done.returncode}:\n{tail}"}
    return json.loads(lines[-1])


def ours_env() -> dict[str, str]:
    """Environment that imports routilux from this repo."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    return env


def upstream_env() -> dict[str, str]:
    """Environment that imports only the upstream package from its venv."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the repo must not shadow the installed package
    return env


# --------------------------------------------------------------------------- reporting


def _get(result: dict[str, Any], *keys: str) -> Any:
    """Nested lookup that yields None for anything missing."""
    value: Any = result
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _fmt(value: Any, unit: str = "") -> str:
    """Format a figure for the table."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
        return text + unit
    return f"{value}{unit}"


def _ratio(numerator: Any, denominator: Any) -> str:
    """numerator / denominator as 'N.Nx', or n/a."""
    if not numerator or not denominator:
        return "n/a"
    return f"{numerator / denominator:,.1f}x"


def rows(up: dict[str, Any], ours: dict[str, Any], sizes: list[int]) -> list[tuple[str, str, str, str]]:
    """(metric, upstream, ours, ratio) rows of the comparison table."""
    small, large = str(min(sizes)), str(max(sizes))
    tp = ("throughput", "invocations_per_s")
    tpb = ("throughput", "invocations_per_s_busy")
    med = ("latency", "median_ms")
    p95 = ("latency", "p95_ms")
    hs = ("history", "by_size", small, "us_per_step_busy")
    hl = ("history", "by_size", large, "us_per_step_busy")
    growth = ("history", "ratio_large_over_small")
    return [
        ("(a) slot invocations/s, execute->done", _fmt(_get(up, *tp)), _fmt(_get(ours, *tp)),
         _ratio(_get(ours, *tp), _get(up, *tp)) + " ours/up"),
        ("(a) slot invocations/s, busy only", _fmt(_get(up, *tpb)), _fmt(_get(ours, *tpb)),
         _ratio(_get(ours, *tpb), _get(up, *tpb)) + " ours/up"),
        ("(b) 3-routine execution, median", _fmt(_get(up, *med), " ms"), _fmt(_get(ours, *med), " ms"),
         _ratio(_get(up, *med), _get(ours, *med)) + " up/ours"),
        ("(b) 3-routine execution, p95", _fmt(_get(up, *p95), " ms"), _fmt(_get(ours, *p95), " ms"),
         _ratio(_get(up, *p95), _get(ours, *p95)) + " up/ours"),
        (f"(c) us/step, {int(small):,} events", _fmt(_get(up, *hs)), _fmt(_get(ours, *hs)),
         _ratio(_get(up, *hs), _get(ours, *hs)) + " up/ours"),
        (f"(c) us/step, {int(large):,} events", _fmt(_get(up, *hl)), _fmt(_get(ours, *hl)),
         _ratio(_get(up, *hl), _get(ours, *hl)) + " up/ours"),
        (f"(c) growth {int(large):,}/{int(small):,} (1.0 = flat)", _fmt(_get(up, *growth)),
         _fmt(_get(ours, *growth)), ""),
        (f"(c) sink us/step, 2nd -> last tenth of {int(large):,}", _deciles(up, large),
         _deciles(ours, large), ""),
    ]


def _deciles(result: dict[str, Any], size: str) -> str:
    """'first -> last' sink cost per step within the large history run."""
    costs = _get(result, "history", "by_size", size, "sink_us_per_step_by_decile")
    return f"{costs[0]:.3g} -> {costs[-1]:.3g}" if costs else "n/a"


def print_table(table: list[tuple[str, str, str, str]]) -> None:
    """Print rows as an aligned text table."""
    header = ("metric", "upstream 0.10.0", "this repo", "ratio")
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(4)]
    line = "  ".join("{:<%d}" % w if i == 0 else "{:>%d}" % w for i, w in enumerate(widths))
    print(line.format(*header))
    print("  ".join("-" * w for w in widths))
    for row in table:
        print(line.format(*row))


def problems(result: dict[str, Any]) -> list[str]:
    """Every failure a side reported (fatal errors and per-scenario errors)."""
    found = [f"{result['implementation']}: {result['fatal']}"] if "fatal" in result else []
    for scenario in ("throughput", "latency", "history"):
        error = _get(result, scenario, "error")
        if error:
            found.append(f"{result['implementation']} {scenario}: {error}")
        for size, figures in (_get(result, scenario, "by_size") or {}).items():
            if figures.get("error"):
                found.append(f"{result['implementation']} {scenario} {size}: {figures['error']}")
    return found


def verdicts(up: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    """The issue's three targets, each with whether this run met it."""
    tp_ratio = _get(ours, "throughput", "invocations_per_s") or 0
    tp_up = _get(up, "throughput", "invocations_per_s")
    median = _get(ours, "latency", "median_ms")
    growth = _get(ours, "history", "ratio_large_over_small")
    out = []
    if tp_up:
        met = tp_ratio / tp_up >= THROUGHPUT_TARGET
        out.append(f"throughput >= {THROUGHPUT_TARGET:.0f}x upstream: {'MET' if met else 'NOT MET'} ({tp_ratio / tp_up:,.1f}x)")
    if median is not None:
        met = median < LATENCY_TARGET_MS
        out.append(f"3-routine execution < {LATENCY_TARGET_MS:g} ms: {'MET' if met else 'NOT MET'} (median {median:.3f} ms)")
    if growth is not None:
        out.append(f"per-step cost flat with history length: {'MET' if growth < 1.5 else 'NOT MET'} "
                   f"(x{growth:.2f} from smallest to largest; 1.5 allowed for noise)")
    return out


def main(argv: list[str] | None = None) -> int:
    """Run both sides and print the comparison."""
    args = parse_args(argv)
    sizes = [int(s) for s in args.history_sizes.split(",")]
    if not Path(args.upstream_python).exists():
        print(f"{args.upstream_python} not found: run bench/upstream_venv.sh first", file=sys.stderr)
        return 2
    common = ["--history-sizes", args.history_sizes, *(["--no-gc"] if args.no_gc else [])]
    ours = run_side(
        "this-repo", args.ours_python, ours_env(),
        [*common, "--latency-runs", str(args.latency_runs)], limit_s=900,
    )
    up_budget = args.upstream_history_budget
    upstream = run_side(
        "upstream", args.upstream_python, upstream_env(),
        [*common, "--latency-runs", str(args.upstream_latency_runs), "--history-budget", str(up_budget)],
        limit_s=300 + 4 * up_budget,  # 3 repeats at most, and no repeat after a cut
    )
    print()
    print_table(rows(upstream, ours, sizes))
    print()
    for verdict in verdicts(upstream, ours):
        print(verdict)
    print()
    print("Notes:")
    print("  * One run on this machine; compare the ratios, not the absolute figures.")
    print(f"  * Latency runs: {args.latency_runs} ours, {args.upstream_latency_runs} upstream (~0.35 s each there).")
    print("  * 'busy only' and (c) time execute() to the last handler call, leaving out how long")
    print("    the engine takes to notice it is done (that cost is what (b) measures).")
    print("  * (c) 'sink us/step by tenth' is the cost of the sink's steps within the large run, as its")
    print("    history grows; on upstream the early tenths overlap the source still emitting.")
    print(f"  * Python's cyclic GC was {'OFF' if args.no_gc else 'on (as in production)'} on both sides.")
    print(f"  * Upstream (c) executions are capped at {up_budget:.0f} s each; a capped run reports the")
    print("    per-step cost of the steps it finished, a lower bound.")
    if _get(upstream, "history", "complete") is False:
        print("    >>> upstream's largest history run WAS cut short in this run.")
    for problem in problems(ours) + problems(upstream):
        print(f"PROBLEM: {problem}")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps({"upstream": upstream, "this_repo": ours}, indent=2))
    return 1 if problems(ours) else 0


if __name__ == "__main__":
    sys.exit(main())
