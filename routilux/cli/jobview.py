"""What a watch knows of its jobs: a model per job kept up to date by the job's events."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

TERMINAL = ("completed", "failed", "cancelled")

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
    finished: bool = False

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
        self.finished = True

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
        """Whether every job has ended (and took its final summary)."""
        return all(job.status in TERMINAL and job.finished for job in self.jobs.values())


def _parse(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
