"""``routilux watch JOB_ID...``: a live view of running jobs, redrawn in place until they end.

The view is fed by the jobs' event streams (XREAD BLOCK, see
``DistributedRuntime.read_events_many``): each routine's state and counts, a
progress bar of activations done vs known, elapsed time, the last events, and
errors in red. Without a terminal (or rich), or with ``--json``, it prints one
line per event instead, then a summary. Ctrl-C stops watching; the jobs go on.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Callable, Sequence

from routilux.cli.engine import runtime_from
from routilux.cli.exits import EXIT_FAILED
from routilux.cli.options import add_command
from routilux.cli.output import interactive, print_json, rich_console
from routilux.cli.events import format_event
from routilux.cli.jobview import TERMINAL, JobModel, WatchView
from routilux.cli.outage import Reconnect


def register(sub: Any) -> None:
    """Add the ``watch`` command."""
    watch = add_command(sub, "watch", cmd_watch, "watch jobs live until they end (exit 0 if all completed)")
    watch.add_argument("job_ids", nargs="+", metavar="JOB_ID")
    add_watch_options(watch)


def add_watch_options(parser: argparse.ArgumentParser) -> None:
    """Options of every watch view (``watch``, ``submit --watch``)."""
    parser.add_argument("--json", action="store_true", help="JSON lines: every event, then each job's summary")
    parser.add_argument("--plain", action="store_true", help="plain lines even on a terminal")


def cmd_watch(args: argparse.Namespace) -> int:
    """Watch jobs until they end."""
    with runtime_from(args) as runtime:
        job_ids = list(dict.fromkeys(runtime.resolve_job_id(j) for j in args.job_ids))
        return watch_jobs(runtime, job_ids, mode=mode_of(args))


def mode_of(args: argparse.Namespace) -> str:
    """"json", "live" (a terminal with rich) or "plain"."""
    if getattr(args, "json", False):
        return "json"
    if getattr(args, "plain", False) or not interactive() or rich_console() is None:
        return "plain"
    return "live"


# -- running a watch -----------------------------------------------------------
def watch_jobs(runtime: Any, job_ids: Sequence[str], mode: str = "live", console: Any = None,
               workers: bool = False, title: str = "", on_event: Callable[[Any], None] | None = None,
               notes: list[str] | None = None) -> int:
    """Show jobs until they all end; returns 0 if all completed, else 1 (130 on Ctrl-C, the jobs go on).

    Args:
        mode: "live" (redrawn in place with rich on ``console``), "plain" or "json" lines, or "ends"
            (nothing printed: the caller's ``on_event`` reports).
        workers: also show the live workers and what they run (live mode).
        on_event: called with each event as it arrives (the demo uses it to act mid-run).
        notes: lines shown above the live view (the caller may append to the list while it runs).

    Raises:
        JobNotFoundError: a job is unknown.
    """
    view = WatchView({job_id: JobModel.from_summary(runtime.job_summary(job_id)) for job_id in job_ids},
                     title=title, notes=notes if notes is not None else [])
    try:
        if mode == "live":
            _run_live(runtime, view, console or rich_console(), workers, on_event)
        else:
            _run_lines(runtime, view, mode, on_event)
    except KeyboardInterrupt:
        running = [j for j, m in view.jobs.items() if m.status not in TERMINAL]
        print(f"stopped watching; still running: {', '.join(running) or 'none'}", file=sys.stderr)
        return 130
    return 0 if all(job.status == "completed" for job in view.jobs.values()) else EXIT_FAILED


def read_into(runtime: Any, view: WatchView, block_s: float, each: Callable[[Any], None]) -> None:
    """Read one batch of the unfinished jobs' events into the view (calling ``each`` on every event);
    a job that ended takes its final summary."""
    cursors = {job_id: job.cursor for job_id, job in view.jobs.items() if job.status not in TERMINAL}
    for event in runtime.read_events_many(cursors, block_s=block_s, steps=True) if cursors else []:
        view.apply(event)
        each(event)
    for job_id, job in view.jobs.items():
        if job.status in TERMINAL and not job.finished:
            job.finish(runtime.job_summary(job_id))


def _to_stderr(line: str) -> None:
    print(f"routilux: {line}", file=sys.stderr, flush=True)


def _to_notes(notes: list[str]) -> Callable[[str], None]:
    """Show the outage as a note above the live view while it lasts."""
    def notify(line: str) -> None:
        notes[:] = [n for n in notes if not n.startswith("Redis: ")]
        if not line.startswith("reconnected"):
            notes.append(f"Redis: {line}")
    return notify


def _run_lines(runtime: Any, view: WatchView, mode: str, on_event: Callable[[Any], None] | None) -> None:
    def each(event: Any) -> None:
        if mode == "json":
            print_json(event.to_dict())
        elif mode == "plain" and event.kind != "step":
            print(format_event(event), flush=True)
        if on_event is not None:
            on_event(event)

    reconnect = Reconnect(_to_stderr)
    while not view.ended():
        reconnect.read(lambda: read_into(runtime, view, 1.0, each), None)
    for job_id in view.jobs:
        if mode == "json":
            print_json({"kind": "summary", **reconnect_summary(runtime, reconnect, job_id)})
    if mode == "plain":
        print("\n".join(summary_lines(view)), flush=True)


def _run_live(runtime: Any, view: WatchView, console: Any, workers: bool,
              on_event: Callable[[Any], None] | None) -> None:
    from rich.live import Live

    from routilux.cli.liveview import render

    last_workers = 0.0
    reconnect = Reconnect(_to_notes(view.notes))
    with Live(console=console, refresh_per_second=4, auto_refresh=False, transient=False) as live:
        while True:
            if workers and time.monotonic() - last_workers > 0.5 and not reconnect.down:
                view.workers, last_workers = reconnect.read(runtime.workers, view.workers), time.monotonic()
            reconnect.read(lambda: read_into(runtime, view, 0.25, on_event or (lambda _: None)), None)
            live.update(render(view), refresh=True)
            if view.ended():
                break


def reconnect_summary(runtime: Any, reconnect: Reconnect, job_id: str) -> dict[str, Any]:
    """A job's summary, waiting out a Redis outage."""
    while True:
        summary = reconnect.read(lambda: runtime.job_summary(job_id), None)
        if summary is not None:
            return summary


def summary_lines(view: WatchView) -> list[str]:
    """The closing plain summary: each job's status, time and activations, then routine counts."""
    lines = []
    for job in view.jobs.values():
        lines.append(f"job {job.job_id} {job.status} in {job.elapsed_s():.1f} s "
                     f"({job.done}/{job.known} activations)" + (f": {job.error}" if job.error else ""))
        if len(view.jobs) == 1:
            for rid, r in job.routines.items():
                lines.append(f"  {rid:<16} {r['status']:<16} runs {r['runs']:<4} errors {r['errors']}")
    return lines
