"""``routilux workers``: the live worker nodes; ``routilux workers shutdown NAME`` stops one warmly."""

from __future__ import annotations

import argparse
from typing import Any

from routilux.cli.engine import runtime_from
from routilux.cli.exits import UsageError
from routilux.cli.options import add_command
from routilux.cli.output import table


def register(sub: Any) -> None:
    """Add the ``workers`` command."""
    workers = add_command(sub, "workers", cmd_workers, "list live workers, or ask one to shut down warmly")
    workers.add_argument("action", nargs="?", default="list", choices=("list", "shutdown"),
                         help="list (default), or shutdown NAME: it finishes what it runs, then exits")
    workers.add_argument("name", nargs="?", metavar="NAME", help="the worker's node name (as listed) for shutdown")


def cmd_workers(args: argparse.Namespace) -> int:
    """Print live workers as a table, or ask one to shut down."""
    if args.action == "shutdown":
        if not args.name:
            raise UsageError("workers shutdown needs the worker's NAME (see: routilux workers)")
        with runtime_from(args) as runtime:
            runtime.shutdown_worker(args.name)
        print(f"worker {args.name}: warm shutdown requested")
        return 0
    with runtime_from(args) as runtime:
        workers = runtime.workers()
    cells = [[name, str(info.get("host", "")), str(info.get("pid", "")), ",".join(info.get("queues") or []),
              _pool(info), _age(info.get("uptime_s")),
              str(info.get("processed", 0)), str(info.get("failed", 0)), f"{info.get('heartbeat_age_s', 0):.1f}s",
              _running(info.get("running") or [])]
             for name, info in sorted(workers.items())]
    print("\n".join(table(["NAME", "HOST", "PID", "QUEUES", "POOL", "UPTIME", "PROCESSED", "FAILED", "HEARTBEAT",
                            "RUNNING NOW"], cells)))
    return 0


def _pool(info: dict[str, Any]) -> str:
    return f"{info.get('pool') or '?'} x{info.get('concurrency') or '?'}"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _running(running: list[dict[str, Any]]) -> str:
    """What a worker runs now: routine.slot of each activation, with its job's first 8 characters."""
    return ", ".join(f"{r['job_id'][:8]}:{r['routine_id']}.{r['slot']}" for r in running) or "-"
