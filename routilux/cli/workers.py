"""``routilux workers``: the live worker nodes."""

from __future__ import annotations

import argparse
import time
from typing import Any

from routilux.cli.engine import runtime_from
from routilux.cli.options import add_command
from routilux.cli.output import table


def register(sub: Any) -> None:
    """Add the ``workers`` command."""
    add_command(sub, "workers", cmd_workers, "list live workers")


def cmd_workers(args: argparse.Namespace) -> int:
    """Print live workers as a table."""
    with runtime_from(args) as runtime:
        workers = runtime.workers()
    now = time.time()
    cells = [[name, str(info.get("host", "")), str(info.get("pid", "")), ",".join(info.get("queues") or []),
              f"{now - float(info.get('ts', now)):.1f} s ago", _running(info.get("running") or [])]
             for name, info in sorted(workers.items())]
    print("\n".join(table(["NAME", "HOST", "PID", "QUEUES", "RENEWED", "RUNNING NOW"], cells)))
    return 0


def _running(running: list[dict[str, Any]]) -> str:
    """What a worker runs now: routine.slot of each activation, with its job's first 8 characters."""
    return ", ".join(f"{r['job_id'][:8]}:{r['routine_id']}.{r['slot']}" for r in running) or "-"
