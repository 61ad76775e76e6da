"""The live watch view: a WatchView drawn with rich (imported here only, when a terminal shows it)."""

from __future__ import annotations

import json
from typing import Any

from routilux.cli.output import clip
from routilux.cli.jobview import JobModel, WatchView

STATUS_STYLES = {"completed": "green", "failed": "bold red", "cancelled": "yellow", "paused": "yellow",
                 "running": "cyan", "error_continued": "red", "skipped": "yellow", "waiting": "dim",
                 "not run": "dim"}

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
    return json.dumps(event.data, default=str, sort_keys=True) if event.data else ""
