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
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Sequence

from routilux.cli.common import EXIT_FAILED, add_command, clip, interactive, print_json, rich_console, runtime_from
from routilux.cli.events import format_event

TERMINAL = ("completed", "failed", "cancelled")
STATUS_STYLES = {"completed": "green", "failed": "bold red", "cancelled": "yellow", "paused": "yellow",
                 "running": "cyan", "error_continued": "red", "skipped": "yellow", "waiting": "dim",
                 "not run": "dim"}


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
        return watch_jobs(runtime, args.job_ids, mode=mode_of(args))


def mode_of(args: argparse.Namespace) -> str:
    """"json", "live" (a terminal with rich) or "plain"."""
    if getattr(args, "json", False):
        return "json"
    if getattr(args, "plain", False) or not interactive() or rich_console() is None:
        return "plain"
    return "live"


# -- the model -----------------------------------------------------------------
@dataclass
class JobModel:
    """What the view knows of one job, kept up to date by its events."""

    job_id: str
    flow_id: str
    created: datetime | None
    routines: dict[str, dict[str, Any]]
    status: str = "running"
    ended: datetime | None = None
    error: str | None = None
    done: int = 0
    known: int = 1
    cursor: str = "0"

    @classmethod
    def from_summary(cls, summary: dict[str, Any]) -> JobModel:
        """A model before any event: the job's routines, nothing run yet (events will count runs)."""
        routines = {rid: {"status": "waiting", "runs": 0, "errors": 0} for rid in summary["routines"]}
        return cls(summary["job_id"], summary.get("flow_id") or "", _parse(summary.get("created_at")), routines)

    def apply(self, event: Any) -> None:
        """Take one event into account."""
        self.cursor = event.id
        if event.kind == "status":
            self.status = event.status
            self.ended = _parse(event.time) if event.status in TERMINAL else None
            self.error = event.error if event.status == "failed" else self.error
            return
        routine = self.routines.setdefault(event.routine_id, {"status": "waiting", "runs": 0, "errors": 0})
        if event.kind == "step":
            routine["runs"] += 1
            routine["errors"] += 1 if event.data.get("raised") else 0
            self.done, self.known = event.data["done"], max(event.data["known"], 1)
            if routine["status"] == "waiting":
                routine["status"] = "running"
        elif event.kind == "error":
            routine["status"] = "failed"
        elif event.event_name == "error_continued":
            routine["status"] = "error_continued"

    def finish(self, summary: dict[str, Any]) -> None:
        """Take the final word of the job's summary (routine states and counts) once it has ended."""
        self.routines = summary["routines"]
        self.done, self.known = summary["activations"]["done"], max(summary["activations"]["known"], 1)
        self.status, self.error = summary["status"], summary.get("error")

    def elapsed_s(self) -> float:
        """Seconds from creation to the end (or to now)."""
        if self.created is None:
            return 0.0
        return max(0.0, ((self.ended or datetime.now()) - self.created).total_seconds())


@dataclass
class WatchView:
    """The state of a watch: its jobs, the last events and errors, and optionally the workers."""

    jobs: dict[str, JobModel]
    recent: deque = field(default_factory=lambda: deque(maxlen=8))
    errors: deque = field(default_factory=lambda: deque(maxlen=5))
    workers: dict[str, Any] | None = None
    title: str = ""
    notes: list[str] = field(default_factory=list)

    def apply(self, event: Any) -> None:
        """Take one event of one of the jobs into account."""
        self.jobs[event.job_id].apply(event)
        if event.kind == "error" or (event.kind == "status" and event.status == "failed"):
            self.errors.append(event)
        if event.kind != "step":
            self.recent.append(event)

    def ended(self) -> bool:
        """Whether every job has ended."""
        return all(job.status in TERMINAL for job in self.jobs.values())


def _parse(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


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
    for job_id in cursors:
        if view.jobs[job_id].status in TERMINAL:
            view.jobs[job_id].finish(runtime.job_summary(job_id))


def _run_lines(runtime: Any, view: WatchView, mode: str, on_event: Callable[[Any], None] | None) -> None:
    def each(event: Any) -> None:
        if mode == "json":
            print_json(event.to_dict())
        elif mode == "plain" and event.kind != "step":
            print(format_event(event), flush=True)
        if on_event is not None:
            on_event(event)

    while not view.ended():
        read_into(runtime, view, 1.0, each)
    for job_id in view.jobs:
        if mode == "json":
            print_json({"kind": "summary", **runtime.job_summary(job_id)})
    if mode == "plain":
        print("\n".join(summary_lines(view)), flush=True)


def _run_live(runtime: Any, view: WatchView, console: Any, workers: bool,
              on_event: Callable[[Any], None] | None) -> None:
    from rich.live import Live

    last_workers = 0.0
    with Live(console=console, refresh_per_second=4, auto_refresh=False, transient=False) as live:
        while True:
            if workers and time.monotonic() - last_workers > 0.5:
                view.workers, last_workers = runtime.workers(), time.monotonic()
            read_into(runtime, view, 0.25, on_event or (lambda _: None))
            live.update(render(view), refresh=True)
            if view.ended():
                break


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


# -- rendering -----------------------------------------------------------------
def render(view: WatchView) -> Any:
    """The live view as a rich renderable: one job in detail, or a table of jobs."""
    from rich.console import Group

    from rich.text import Text

    parts: list[Any] = [Text(line, style="bold yellow") for line in view.notes[-3:]]
    if len(view.jobs) == 1:
        parts += _one_job(next(iter(view.jobs.values())))
    else:
        parts += _many_jobs(view)
    if view.workers is not None:
        parts.append(_workers(view.workers))
    parts.append(_events(view))
    if view.errors:
        parts.append(_errors(view))
    return Group(*parts)


def _status(text: str) -> Any:
    from rich.text import Text

    return Text(text, style=STATUS_STYLES.get(text, ""))


def _bar(job: JobModel, width: int = 30) -> Any:
    from rich.progress_bar import ProgressBar

    style = "red" if job.status == "failed" else "green"
    return ProgressBar(total=job.known, completed=min(job.done, job.known), width=width,
                       complete_style=style, finished_style=style)


def _one_job(job: JobModel) -> list[Any]:
    from rich.table import Table
    from rich.text import Text

    head = Text.assemble(("job ", "bold"), job.job_id, "  flow ", (job.flow_id, "bold"), "  ",
                         (job.status, STATUS_STYLES.get(job.status, "")), f"  {job.elapsed_s():.1f} s")
    progress = Table.grid(padding=(0, 1))
    progress.add_row(_bar(job, 40), Text(f"{job.done}/{job.known} activations"))
    routines = Table("ROUTINE", "STATUS", "RUNS", "ERRORS", box=None, header_style="bold", pad_edge=False)
    for rid, r in job.routines.items():
        errors = Text(str(r["errors"]), style="red" if r["errors"] else "")
        routines.add_row(rid, _status(r["status"]), str(r["runs"]), errors)
    return [head, progress, routines]


def _many_jobs(view: WatchView) -> list[Any]:
    from rich.table import Table
    from rich.text import Text

    counts: dict[str, int] = {}
    for job in view.jobs.values():
        counts[job.status] = counts.get(job.status, 0) + 1
    head = Text.assemble((view.title or f"{len(view.jobs)} jobs", "bold"), "  ",
                         ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    jobs = Table("JOB", "STATUS", "PROGRESS", "ACTIVATIONS", "ERRORS", "TIME", box=None, header_style="bold",
                 pad_edge=False)
    for job in view.jobs.values():
        errors = sum(r["errors"] for r in job.routines.values())
        jobs.add_row(job.job_id[:8], _status(job.status), _bar(job), f"{job.done}/{job.known}",
                     Text(str(errors), style="red" if errors else ""), f"{job.elapsed_s():.1f} s")
    return [head, jobs]


def _workers(workers: dict[str, Any]) -> Any:
    from rich.table import Table

    table = Table("WORKER", "PID", "RUNNING NOW", box=None, header_style="bold", pad_edge=False)
    for name, info in sorted(workers.items()):
        running = ", ".join(f"{r['job_id'][:8]}:{r['routine_id']}" for r in info.get("running", []))
        table.add_row(name, str(info.get("pid", "")), running or "-")
    if not workers:
        table.add_row("(no live worker)", "", "")
    return table


def _events(view: WatchView) -> Any:
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False, title="last events", title_justify="left",
                  title_style="bold")
    routine_width = max([len(e.routine_id or "-") for e in view.recent] + [7])
    for name, width in (("TIME", 12), ("JOB", 8), ("ROUTINE", routine_width)):
        table.add_column(name, no_wrap=True, min_width=width)
    table.add_column("EVENT", no_wrap=True, overflow="ellipsis", ratio=1)
    for event in view.recent:
        what = event.status if event.kind == "status" else f"{event.event_name} {_data(event)}"
        table.add_row(event.time[11:23], event.job_id[:8], event.routine_id or "-", clip(what, 70),
                      style="red" if event.kind == "error" or event.status == "failed" else "")
    return table


def _errors(view: WatchView) -> Any:
    from rich.text import Text

    lines = [f"{e.job_id[:8]} {e.routine_id or 'job'}: {e.error}" for e in view.errors]
    return Text("errors:\n" + "\n".join("  " + clip(line, 110) for line in lines), style="red")


def _data(event: Any) -> str:
    import json

    return json.dumps(event.data, default=str, sort_keys=True) if event.data else ""
