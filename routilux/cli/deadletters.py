"""``routilux dead-letters``: activations the engine gave up on."""

from __future__ import annotations

import argparse
from typing import Any

from routilux.cli.common import add_command, clip, runtime_from, table, when


def register(sub: Any) -> None:
    """Add the ``dead-letters`` command."""
    dead = add_command(sub, "dead-letters", cmd_dead_letters, "list the newest dead letters")
    dead.add_argument("--count", type=int, default=20, help="how many (default 20)")


def cmd_dead_letters(args: argparse.Namespace) -> int:
    """Print the newest dead letters as a table."""
    with runtime_from(args) as runtime:
        rows = runtime.dead_letters(count=args.count)
    cells = [[r["id"], str(r.get("job") or "-"), str(r.get("activation") or "-"), clip(str(r.get("reason", ""))),
              when(r.get("ts"))] for r in rows]
    print("\n".join(table(["ID", "JOB", "ACTIVATION", "REASON", "AT"], cells)))
    return 0
