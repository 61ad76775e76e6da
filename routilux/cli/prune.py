"""``routilux prune``: delete ended jobs from the store (for stores that predate retention, or to free memory now)."""

from __future__ import annotations

import argparse
import re
from typing import Any

from routilux.cli.engine import runtime_from
from routilux.cli.exits import UsageError
from routilux.cli.options import add_command

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_duration(text: str) -> float:
    """Seconds in ``90``, ``90s``, ``15m``, ``12h``, ``7d`` or ``2w``.

    Raises:
        UsageError: it is none of those.
    """
    match = _DURATION.match(text.lower())
    if match is None:
        raise UsageError(f"bad duration {text!r}: use a number with an optional unit s, m, h, d or w (e.g. 7d)")
    return float(match.group(1)) * _UNITS[match.group(2)]


def register(sub: Any) -> None:
    """Add the ``prune`` command."""
    prune = add_command(sub, "prune", cmd_prune, "delete ended jobs (every key of each) from the store")
    prune.add_argument("--older-than", metavar="DURATION",
                       help="only jobs that ended at least this long ago (90s, 15m, 12h, 7d, 2w)")
    prune.add_argument("--status", choices=("completed", "failed", "cancelled"), help="only jobs with this status")


def cmd_prune(args: argparse.Namespace) -> int:
    """Delete the ended jobs the options select and say how many."""
    older = parse_duration(args.older_than) if args.older_than else None
    with runtime_from(args) as runtime:
        count = runtime.prune(older_than_s=older, status=args.status)
    print(f"pruned {count} job{'s' if count != 1 else ''}")
    return 0
