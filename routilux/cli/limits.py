"""``routilux limits``: every concurrency and rate limit, its holders and its waiting work."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from routilux.cli.engine import runtime_from
from routilux.cli.options import add_action, add_command
from routilux.cli.output import table


def register(sub: Any) -> None:
    """Add the ``limits`` command: ``limits [list]`` and ``limits set KEY MAX``."""
    limits = add_command(sub, "limits", cmd_limits, "list concurrency and rate limits: holders and waiting work")
    limits.add_argument("--json", action="store_true", help="print them as JSON")
    actions = limits.add_subparsers(dest="action", metavar="ACTION")
    listing = add_action(actions, "list", cmd_limits, "list the limits with their holders and waiting work (default)")
    listing.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print them as JSON")
    text = "let at most MAX jobs submitted with --concurrency-key KEY run at once, fleet-wide"
    setting = add_action(actions, "set", cmd_set, text)
    setting.add_argument("key", metavar="KEY", help="the jobs' concurrency key")
    setting.add_argument("max_running", metavar="MAX", type=int, help="how many of its jobs may run at once")


def cmd_set(args: argparse.Namespace) -> int:
    """Set a job concurrency key's limit."""
    with runtime_from(args) as runtime:
        runtime.set_concurrency_limit(args.key, args.max_running)
    print(f"jobs with concurrency key {args.key!r}: at most {args.max_running} at once")
    return 0


def cmd_limits(args: argparse.Namespace) -> int:
    """Print each limit with its holders and waiting work, as a table or JSON."""
    with runtime_from(args) as runtime:
        limits = runtime.limits()
    if getattr(args, "json", False):
        print(json.dumps(limits, indent=2))
        return 0
    now_ms = time.time() * 1000
    cells = [[v["name"], v["kind"], _limit(v), str(len(v["holders"])), str(len(v["waiting"])), _holders(v, now_ms)]
             for v in limits]
    print("\n".join(table(["LIMIT", "KIND", "MAX", "HOLDING", "WAITING", "HOLDERS (lease left)"], cells)))
    return 0


def _limit(view: dict[str, Any]) -> str:
    return f"{view['limit']:g}/s" if view["kind"] == "rate" else str(view["limit"])


def _holders(view: dict[str, Any], now_ms: float) -> str:
    """Each holder as job:activation (a job, for a job concurrency key; the job's first 8 characters) with the
    seconds its lease has left."""
    def name(holder: str) -> str:
        job, _, act = holder.partition("|")
        return f"{job[:8]}:{act}" if act else job[:8]

    return ", ".join(f"{name(h['holder'])} ({(h['until_ms'] - now_ms) / 1000:.1f}s)" for h in view["holders"]) or "-"
