"""``routilux events JOB_ID [--follow] [--json]``: a job's history records and status changes, in commit order."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from routilux.cli.engine import runtime_from
from routilux.cli.options import add_command
from routilux.cli.output import clip, folded_traceback, interactive, print_json, rich_console
from routilux.cli.outage import Reconnect

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
    """Print a job's events; with --follow, until its terminal status (riding out a Redis outage)."""
    console = rich_console(highlight=False) if interactive() and not args.json else None
    with runtime_from(args) as runtime:
        job_id = runtime.resolve_job_id(args.job_id)
        seen = [args.after]

        def follow() -> bool:
            for event in runtime.events(job_id, cursor=seen[0], follow=args.follow, steps=args.steps):
                show_event(event, args.json, console)
                seen[0] = event.id
            return True

        if not args.follow:
            follow()
            return 0
        reconnect = Reconnect(lambda line: print(f"routilux: {line}", file=sys.stderr, flush=True))
        while not reconnect.read(follow, False):
            pass
    return 0


def show_event(event: Any, as_json: bool, console: Any) -> None:
    """Print one event: a JSON line, or a line (and a folded stack trace) on the console or stdout."""
    if as_json:
        print_json(event.to_dict())
        return
    trace = folded_traceback(str(event.data["traceback"])) if _has_trace(event) else []
    if console is not None:
        line = format_event(event, width=max(30, console.width - 60))
        console.print(line, style=STYLES.get(event.kind, ""), markup=False, soft_wrap=True)
        for text in trace:
            console.print(text, style="red", markup=False, soft_wrap=True)
    else:
        print("\n".join([format_event(event), *trace]), flush=True)


def _has_trace(event: Any) -> bool:
    return isinstance(event.data, dict) and bool(event.data.get("traceback")) and event.kind in ("error", "record")


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
        shown = {k: v for k, v in (event.data or {}).items() if k != "traceback"}  # folded below it instead
        payload = json.dumps(shown, default=str, sort_keys=True)
        what = f"{event.event_name} {clip(payload, width) if width else payload}"
    return f"{event.time}  {event.kind:<6}  {event.routine_id or '-':<12}  {what}"
