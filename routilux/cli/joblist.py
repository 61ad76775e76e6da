"""``routilux jobs``: list the jobs a filter selects, newest first, or act on all of them; ``routilux retry``.

    routilux jobs --status failed --flow orders --since 1h --where region=eu
    routilux jobs cancel --status running --flow orders      # shows the count, asks to confirm
    routilux jobs delete --status completed --until 7d --yes
    routilux jobs resume --flow orders | jobs replay --error "worker lost"
    routilux retry JOB_ID --wait                              # a new job with the same input
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from routilux.cli.engine import runtime_from
from routilux.cli.exits import UsageError
from routilux.cli.options import add_command
from routilux.cli.output import clip, print_json, table, when

# The CLI's word for each bulk action of the runtime.
ACTIONS = {"cancel": "cancel", "delete": "delete", "resume": "resume", "replay": "replay_dead_letters"}


def register(sub: Any) -> None:
    """Add the ``jobs`` command."""
    jobs = add_command(sub, "jobs", cmd_jobs, "list the jobs a filter selects (newest first), or act on all of them")
    jobs.add_argument("action", nargs="?", default="list", choices=("list", *ACTIONS),
                      help="list (default), or cancel, delete, resume or replay (their dead letters) every match")
    add_filter_arguments(jobs)
    jobs.add_argument("--limit", type=int, default=0, help="list only the newest N matches")
    jobs.add_argument("--json", action="store_true", help="print one JSON row per job")
    jobs.add_argument("--yes", action="store_true", help="act without asking to confirm the count")
    jobs.add_argument("--reason", default="", help="why (kept by a cancel)")
    retry = add_command(sub, "retry", cmd_retry, "run a failed or cancelled job again as a new job (same input)")
    retry.add_argument("job_id", metavar="JOB_ID")
    retry.add_argument("--wait", action="store_true", help="wait for the new job to end and print its status")
    retry.add_argument("--timeout", type=float, default=60.0, help="seconds to wait with --wait (default 60)")


def add_filter_arguments(parser: argparse.ArgumentParser) -> None:
    """The filter options (one per field of JobFilter)."""
    parser.add_argument("--id", metavar="PREFIX", help="job id starts with PREFIX")
    parser.add_argument("--flow", metavar="TEXT", help="flow id contains TEXT (or its hash starts with it)")
    parser.add_argument("--status", metavar="S[,S]", action="append", default=[],
                        help="status among running, paused, completed, failed, cancelled (comma list, repeatable)")
    parser.add_argument("--since", metavar="TIME",
                        help="created at or after: ISO-8601, epoch s, or an age (90s, 15m, 1h, 2d)")
    parser.add_argument("--until", metavar="TIME", help="created at or before (same forms)")
    parser.add_argument("--error", metavar="TEXT", help="the job's error contains TEXT (any case)")
    parser.add_argument("--where", metavar="KEY=VALUE", action="append", default=[],
                        help="an entry parameter or shared-data value equals VALUE (repeatable; dotted keys reach in)")


def filter_from(args: argparse.Namespace) -> Any:
    """The JobFilter of the filter options (a UsageError for one it cannot read)."""
    from routilux.distributed.operations.jobfilter import JobFilter
    from routilux.errors import JobFilterError

    try:
        return JobFilter.parse(id=args.id, flow=args.flow, status=args.status, since=args.since, until=args.until,
                               error=args.error, where=args.where)
    except JobFilterError as exc:
        raise UsageError(str(exc)) from exc


def cmd_jobs(args: argparse.Namespace) -> int:
    """List the matches, or run a bulk action on them."""
    flt = filter_from(args)
    with runtime_from(args) as runtime:
        if args.action != "list":
            return _bulk(runtime, ACTIONS[args.action], flt, args)
        rows = runtime.jobs(filter=flt, limit=args.limit or None)
    if args.json:
        for row in rows:
            print_json(row)
        return 0
    cells = [[r["job_id"], r["status"] or "", r["flow_id"] or "", when(r["created_at"]), when(r["updated_at"]),
              _duration(r["duration_s"]), clip(r.get("error") or "")] for r in rows]
    print("\n".join(table(["JOB ID", "STATUS", "FLOW", "CREATED", "UPDATED", "DURATION", "ERROR"], cells)))
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    """Retry a job; print the new job's id (and its status with --wait)."""
    with runtime_from(args) as runtime:
        new_id = runtime.retry(args.job_id)
        print(new_id, flush=True)
        if not args.wait:
            return 0
        state = runtime.wait(new_id, timeout=args.timeout)
    print(f"job {new_id} {state.status}" + (f": {state.error}" if state.error else ""))
    return 0 if state.status == "completed" else 1


def _bulk(runtime: Any, action: str, flt: Any, args: argparse.Namespace) -> int:
    preview = runtime.bulk(action, flt, dry_run=True)
    count = preview["matched"]
    print(f"{args.action}: {count} job{'s' if count != 1 else ''} selected")
    for job_id in preview["job_ids"][:10]:
        print(f"  {job_id}")
    if count > 10:
        print(f"  ... and {count - 10} more")
    if count == 0:
        return 0
    if not args.yes and not _confirmed(f"{args.action} these {count} jobs? [y/N] "):
        print("nothing done")
        return 1
    result = runtime.bulk(action, flt, dry_run=False, expect=count, reason=args.reason)
    print(f"{args.action}: {result['done']} done, {len(result['failed'])} failed")
    for failure in result["failed"]:
        print(f"  {failure['job_id']}: {failure['error']}", file=sys.stderr)
    return 0 if not result["failed"] else 1


def _confirmed(question: str) -> bool:
    if not sys.stdin.isatty():
        raise UsageError("not confirmed: stdin is not a terminal; add --yes to act on the count shown")
    return input(question).strip().lower() in ("y", "yes")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"
