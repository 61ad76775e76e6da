"""DistributedRuntime.bulk: cancel, delete, resume or replay the dead letters of every job a filter selects.

An operator first asks for a dry run, which counts the jobs the action applies
to (a cancel selects only running and paused jobs, a delete only ended ones, a
resume only paused ones, a replay only failed jobs with dead letters), then
confirms with that count as ``expect``: if the selection changed meanwhile, the
action is refused with the new count rather than applied to jobs nobody saw.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from routilux.distributed.operations.jobfilter import JobFilter
from routilux.distributed.operations.search import scan_jobs
from routilux.distributed.store import text
from routilux.errors import JobFilterError, RoutiluxError, SelectionChangedError
from routilux.job_state import TERMINAL

if TYPE_CHECKING:
    from routilux.distributed.operations.store import OpsStore
    from routilux.distributed.store import RedisStore

# The statuses each action applies to.
ACTIONS: dict[str, tuple[str, ...]] = {
    "cancel": ("running", "paused"),
    "delete": tuple(sorted(TERMINAL)),
    "resume": ("paused",),
    "replay_dead_letters": ("failed",),
}
SHOWN_IDS = 100  # an answer lists at most this many of the selected job ids
DEAD_LETTER_SCAN = 100_000  # the dead-letter streams are capped near this many entries


class BulkMixin:
    """Actions on every job a :class:`JobFilter` selects, confirmed by their count."""

    ops: OpsStore
    store: RedisStore

    def bulk(self, action: str, filter: JobFilter, dry_run: bool = True, expect: int | None = None,
             reason: str = "") -> dict[str, Any]:
        """Count (``dry_run``) or perform ``action`` on the jobs ``filter`` selects that it applies to.

        Returns ``{"action", "matched", "job_ids": [first 100], "done", "failed": [{"job_id", "error"}]}``;
        a dry run does nothing (``done`` 0). ``reason`` is kept by a cancel.

        Raises:
            JobFilterError: not one of :data:`ACTIONS`.
            SelectionChangedError: ``expect`` is given and the selection no longer counts that many
                (its ``matched`` is the count now); nothing was done.
        """
        if action not in ACTIONS:
            raise JobFilterError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
        selected = self._selection(action, filter)
        out: dict[str, Any] = {"action": action, "matched": len(selected), "job_ids": list(selected)[:SHOWN_IDS],
                               "done": 0, "failed": []}
        if dry_run:
            return out
        if expect is not None and expect != len(selected):
            raise SelectionChangedError(
                f"the selection now holds {len(selected)} jobs, not the {expect} confirmed; nothing was done",
                len(selected))
        perform = self._performer(action, reason)
        for job_id, extra in selected.items():
            try:
                perform(job_id, extra)
                out["done"] += 1
            except RoutiluxError as exc:
                out["failed"].append({"job_id": job_id, "error": str(exc)})
        return out

    def _selection(self, action: str, flt: JobFilter) -> dict[str, list[str]]:
        """Job id -> its dead-letter ids (replay) or [] for every job the action applies to, newest first."""
        narrowed = flt.with_statuses(ACTIONS[action])
        if narrowed is None:
            return {}
        ids = [job_id for job_id, _, row in scan_jobs(self.ops, narrowed) if row is not None]
        if action != "replay_dead_letters":
            return {job_id: [] for job_id in ids}
        dead: dict[str, list[str]] = {}
        for row in self.store.dead_letters(DEAD_LETTER_SCAN):
            dead.setdefault(text(row.get("job", "")), []).append(row["id"])
        return {job_id: dead[job_id][::-1] for job_id in ids if job_id in dead}

    def _performer(self, action: str, reason: str) -> Callable[[str, list[str]], None]:
        runtime: Any = self
        if action == "cancel":
            return lambda job_id, _: runtime.cancel(job_id, reason=reason)
        if action == "delete":
            return lambda job_id, _: runtime.delete_job(job_id)
        if action == "resume":
            return lambda job_id, _: runtime.resume(job_id)

        def replay(_: str, dead_ids: list[str]) -> None:
            for dead_id in dead_ids:  # oldest first, as they were given up on
                runtime.replay_dead_letter(dead_id)
        return replay
