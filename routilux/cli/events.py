"""``routilux events JOB_ID [--follow] [--json]``: a job's history records and status changes, in commit order."""

from __future__ import annotations

import argparse
import json
from typing import Any

from routilux.cli.common import add_command, clip, interactive, print_json, rich_console, runtime_from

STYLES = {"status": "bold cyan", "error": "bold red", "step": "dim", "record": ""}


def register(sub: Any) -> None:
    """Add the ``events`` command."""
    events = add_command(sub, "events", cmd_events, "print a job's events (history records and status changes)")
    events.add_argument("job_id", metavar="JOB_ID")
    events.add_argument("--follow", "-f", action="store_true", help="keep printing new events until the job ends")
    events.add_argument("--json", action="store_true", help="one JSON object per line")
    events.add_argument("--steps", action="store_true", help="also one line per committed activation")
    events.add_argument("--after", default="0", metavar="EVENT_ID", help="start after this event id")


def cmd_events(args: argparse.Namespace) -> int:
    """Print a job's events; with --follow, until its terminal status."""
    console = rich_console(highlight=False) if interactive() and not args.json else None
    with runtime_from(args) as runtime:
        for event in runtime.events(args.job_id, cursor=args.after, follow=args.follow, steps=args.steps):
            if args.json:
                print_json(event.to_dict())
            elif console is not None:
                line = format_event(event, width=max(30, console.width - 60))
                console.print(line, style=STYLES.get(event.kind, ""), markup=False, soft_wrap=True)
            else:
                print(format_event(event), flush=True)
    return 0


def format_event(event: Any, width: int = 0) -> str:
    """One line: time, kind, routine (or "job") and what happened; data as JSON (clipped to ``width``)."""
    if event.kind == "status":
        what = event.status + (f" ({event.error})" if event.error else "")
        return f"{event.time}  {'status':<6}  {'job':<12}  {what}"
    if event.kind == "error":
        what = f"error: {event.error}"
    elif event.kind == "step":
        data = event.data or {}
        took = f" in {data['duration_ms']} ms" if data.get("duration_ms") is not None else ""
        what = (f"{data.get('slot')} {data.get('outcome')}{' (raised)' if data.get('raised') else ''}{took}  "
                f"activations {data.get('done')}/{data.get('known')}")
    else:
        payload = json.dumps(event.data, default=str, sort_keys=True)
        what = f"{event.event_name} {clip(payload, width) if width else payload}"
    return f"{event.time}  {event.kind:<6}  {event.routine_id or '-':<12}  {what}"
