"""``routilux post JOB_ID ROUTINE.SLOT --data JSON [--id POST_ID]``: deliver data into a running job."""

from __future__ import annotations

import argparse
from typing import Any

from routilux.cli.engine import runtime_from
from routilux.cli.exits import UsageError
from routilux.cli.options import add_command, json_object

# Exit code of a post refused as late (the slot's wait timed out first).
EXIT_LATE = 5


def register(sub: Any) -> None:
    """Add the ``post`` command."""
    post = add_command(sub, "post", cmd_post, "deliver data to a slot of a running job (once per --id)")
    post.add_argument("job_id", metavar="JOB_ID")
    post.add_argument("target", metavar="ROUTINE.SLOT", help="the routine id and slot, e.g. approve.decision")
    post.add_argument("--data", default="{}", help="the data as a JSON object")
    post.add_argument("--id", dest="post_id", default=None, metavar="POST_ID",
                      help="the post's id: posting the same id again is a no-op (default: a fresh one)")


def split_target(target: str) -> tuple[str, str]:
    """(routine id, slot) of ``ROUTINE.SLOT`` (the slot is after the last dot)."""
    routine, dot, slot = target.rpartition(".")
    if not dot or not routine or not slot:
        raise UsageError(f"the target must be ROUTINE.SLOT, not {target!r}")
    return routine, slot


def cmd_post(args: argparse.Namespace) -> int:
    """Post; print what happened: posted, duplicate (exit 0) or late (exit 5)."""
    routine, slot = split_target(args.target)
    data = json_object(args.data, "--data")
    with runtime_from(args) as runtime:
        job_id = runtime.resolve_job_id(args.job_id)
        outcome = runtime.post(job_id, routine, slot, data, post_id=args.post_id)
    print(f"job {job_id} {routine}.{slot}: {outcome}")
    return EXIT_LATE if outcome == "late" else 0
