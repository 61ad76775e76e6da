"""The local engine beside a pinned older commit and upstream 0.10.0, in one run.

Usage (from the repo root)::

    bench/upstream_venv.sh                          # once, for the upstream side
    .venv/bin/python bench/compare_baseline.py      # 5 rounds, a few minutes
    .venv/bin/python bench/compare_baseline.py --rounds 7 --no-upstream --json out.json
    .venv/bin/python bench/compare_baseline.py --also before=main      # a change's before and after too

The pinned side is :data:`PINNED` (or ``--baseline COMMIT``), extracted with
``git archive`` into a temporary directory; this side is the working tree;
upstream is ``bench/.venv-upstream``. Every side runs this tree's
``bench/local_engine.py`` in fresh processes: one for throughput (10-routine
chain, ``--items`` items, best of 3) and latency (3-routine chain, median), and
one for a single execution of ``--big-items`` items whose peak RSS is the memory
figure. Rounds rotate which side goes first, so load from other work falls on
every side alike. Two tables: the median over rounds, and the best round
(highest throughput, lowest latency and memory: the one other work disturbed
least), each with this tree's ratios; throughput is also given per CPU second
of the benchmark process, which load from other work disturbs least.
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

from compare_local import UPSTREAM_PYTHON, run_side, upstream_env

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent

PINNED = "0453bfde453e1c5d8db783e494bec24f3202f3b0"
"""The last commit before the porting and hardening work (c769f9c "Porting from upstream 0.10.0"
and then the step as a transaction): the local engine's speed and memory to keep."""

UPSTREAM_TARGET = 15.0  # this tree's throughput / upstream's


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=PINNED, help="commit to compare with (default: the pinned one)")
    parser.add_argument("--also", action="append", default=[], metavar="NAME=COMMIT",
                        help="another commit to run as side NAME (e.g. before=main); repeatable")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5, help="throughput executions per process (best kept)")
    parser.add_argument("--items", type=int, default=1000, help="items per throughput execution")
    parser.add_argument("--big-items", type=int, default=10000, help="items of the one execution measured for memory")
    parser.add_argument("--latency-runs", type=int, default=200)
    parser.add_argument("--upstream-latency-runs", type=int, default=10, help="upstream takes ~0.35 s per run")
    parser.add_argument("--strategy", choices=("sequential", "concurrent"), default="sequential")
    parser.add_argument("--no-upstream", action="store_true")
    parser.add_argument("--upstream-python", default=str(UPSTREAM_PYTHON))
    parser.add_argument("--json", dest="json_path", default=None, help="also write every raw result here")
    return parser.parse_args(argv)


def extract(commit: str, into: Path) -> Path:
    """``git archive`` of ``commit`` unpacked under ``into``; returns the tree's root."""
    sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", commit], capture_output=True, text=True,
                         check=True).stdout.strip()
    root = into / sha[:12]
    root.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", sha], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
    return root


def measure(side: str, python: str, env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    """One round of one side: throughput and latency, then the big execution's peak RSS."""
    runs = args.upstream_latency_runs if side == "upstream" else args.latency_runs
    common = ["--strategy", args.strategy]
    fast = run_side(side, python, env, [*common, "--scenarios", "throughput,latency", "--items", str(args.items),
                                        "--repeats", str(args.repeats), "--latency-runs", str(runs)], 900)
    big = run_side(side, python, env, [*common, "--scenarios", "throughput", "--items", str(args.big_items),
                                       "--repeats", "1"], 900)
    for result in (fast, big):
        if "fatal" in result:
            raise RuntimeError(f"{side}: {result['fatal']}")
        if side != "upstream" and not result["module"].startswith(env["PYTHONPATH"]):
            raise RuntimeError(f"{side} ran {result['module']}, not {env['PYTHONPATH']}")
        errors = [result[s].get("error") for s in ("throughput", "latency") if s in result]
        if any(errors):
            raise RuntimeError(f"{side}: {errors}")
    return {
        "invocations/s": fast["throughput"]["invocations_per_s"],
        "invocations/CPU-s": fast["throughput"]["invocations_per_cpu_s"],
        "latency ms": fast["latency"]["median_ms"],
        f"invocations/s, {args.big_items:,} items": big["throughput"]["invocations_per_s"],
        f"invocations/CPU-s, {args.big_items:,} items": big["throughput"]["invocations_per_cpu_s"],
        f"peak RSS MB, {args.big_items:,} items": big["peak_rss_kb"] / 1024,
    }


def sides(args: argparse.Namespace, folder: Path) -> dict[str, tuple[str, dict[str, str]]]:
    """Side name -> (interpreter, environment), with each commit extracted under ``folder``."""
    commits = {"pinned": args.baseline, **dict(pair.split("=", 1) for pair in args.also)}
    out = {name: (sys.executable, {**os.environ, "PYTHONPATH": str(extract(commit, folder))})
           for name, commit in commits.items()}
    out["this"] = (sys.executable, {**os.environ, "PYTHONPATH": str(REPO)})
    if not args.no_upstream:
        if not Path(args.upstream_python).exists():
            raise SystemExit(f"{args.upstream_python} is missing: run bench/upstream_venv.sh, or pass --no-upstream")
        out["upstream"] = (args.upstream_python, upstream_env())
    return out


def _cell(value: float) -> str:
    """A figure for the table: thousands separated, else 3 significant digits."""
    return f"{value:,.0f}" if value >= 1000 else f"{value:.3g}"


def summarise(results: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, dict[str, float]]]:
    """Per statistic ("median", "best"), per side, per figure: over the rounds.

    "best" is the highest throughput and the lowest latency and memory: the round
    that other work on the machine disturbed least.
    """
    def best(key: str, values: list[float]) -> float:
        return max(values) if key.startswith("invocations") else min(values)

    out: dict[str, dict[str, dict[str, float]]] = {"median": {}, "best": {}}
    for side, rows in results.items():
        out["median"][side] = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        out["best"][side] = {k: best(k, [r[k] for r in rows]) for k in rows[0]}
    return out


def report(figures: dict[str, dict[str, float]], title: str) -> None:
    """Print one table: each side's figures and this tree's ratio to each other side."""
    others = [side for side in figures if side != "this"]
    header = [title, *figures, *(f"this/{o}" for o in others)]
    table = [header]
    for key in figures["this"]:
        ratios = [f"{figures['this'][key] / figures[o][key]:.3f}" for o in others]
        table.append([key, *(_cell(figures[side][key]) for side in figures), *ratios])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    print()
    for row in table:
        print("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))


def _verdict(name: str, met: bool, detail: str = "") -> str:
    return f"{name}: {'MET' if met else 'NOT MET'}{detail}"


def verdicts(figures: dict[str, dict[str, float]]) -> list[str]:
    """The issue's targets against one summary (medians or bests) of the rounds."""
    this, pinned = figures["this"], figures["pinned"]
    rss = next(k for k in this if k.startswith("peak RSS"))
    out = [
        _verdict("throughput >= pinned", this["invocations/s"] >= pinned["invocations/s"]),
        _verdict("throughput per CPU second >= pinned", this["invocations/CPU-s"] >= pinned["invocations/CPU-s"]),
        _verdict("latency <= pinned", this["latency ms"] <= pinned["latency ms"]),
        _verdict("peak RSS <= pinned", this[rss] <= pinned[rss]),
    ]
    if "upstream" in figures:
        ratio = this["invocations/s"] / figures["upstream"]["invocations/s"]
        out.append(_verdict(f"throughput >= {UPSTREAM_TARGET:g}x upstream", ratio >= UPSTREAM_TARGET, f" ({ratio:.1f}x)"))
    return out


def main(argv: list[str] | None = None) -> int:
    """Run every side, rotating the order each round, and print the comparison."""
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="routilux-pinned-") as folder:
        commands = sides(args, Path(folder))
        order = list(commands)
        results: dict[str, list[dict[str, float]]] = {side: [] for side in order}
        for index in range(args.rounds):
            for side in order[index % len(order):] + order[: index % len(order)]:
                results[side].append(measure(side, *commands[side], args))
                print(f"round {index + 1} {side}: {results[side][-1]}", file=sys.stderr, flush=True)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"pinned = {args.baseline[:12]}, strategy {args.strategy}; load average at the end: {load}")
    summary = summarise(results)
    report(summary["median"], f"median of {args.rounds} rounds")
    report(summary["best"], f"best of {args.rounds} rounds")
    lines = [f"{name}: {line}" for name in ("median", "best") for line in verdicts(summary[name])]
    print("\n" + "\n".join(lines))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps({"baseline": args.baseline, "rounds": results}, indent=1))
    return 0 if all("NOT MET" not in line for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
