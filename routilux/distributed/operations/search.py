"""DistributedRuntime methods that find jobs by a :class:`JobFilter`: pages for front-ends, all matches for bulk work.

The jobs index (one sorted set per key bucket, scored by creation time) is read
newest first in batches; each batch's meta fields come in one round trip, and
only jobs that pass them have their entry parameters and shared data read (when
the filter has ``where``). Nothing loads a whole JobState.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

from routilux.distributed.protocol.priority import of_meta
from routilux.distributed.operations.events import ms_to_iso
from routilux.distributed.operations.jobfilter import JobFilter
from routilux.distributed.store.children import children_of, parent_of
from routilux.errors import FlowError

if TYPE_CHECKING:
    from routilux.distributed.operations.store import OpsStore

# Meta fields a job row shows (and a filter checks).
ROW_FIELDS = ("status", "flow_id", "flow_hash", "created_at", "started_at", "finished_at", "updated_at", "error",
              "retried_from", "retries", "forked_from", "parent_job", "parent_act", "parent_routine")
PAGE_SCAN_LIMIT = 5000  # a page reads at most this many index entries, then answers with what it found and a cursor
_BATCH = 200


class SearchMixin:
    """Job listings filtered by a :class:`JobFilter`, newest first."""

    ops: OpsStore

    def job_page(self, filter: JobFilter | None = None, limit: int = 50, cursor: str | None = None,
                 status: str | None = None, flow: str | None = None) -> dict[str, Any]:
        """One page of the jobs ``filter`` matches, newest first: ``{"jobs": [row, ...], "next_cursor": str | None}``.

        A row has job_id, flow_id, flow_hash, status, priority, tenant, error, created_at, started_at,
        ended_at, updated_at (ISO), duration_s (None until the job ends) and the links
        retried_from, retries (a list) and forked_from. A page may hold fewer than
        ``limit`` rows yet have a ``next_cursor`` when a rare match made it read
        ``PAGE_SCAN_LIMIT`` jobs; pass ``next_cursor`` back as ``cursor`` to go on.
        ``status`` and ``flow`` are shorthands for a filter of just them.

        Raises:
            FlowError: ``limit`` below 1 or a cursor that is not one.
            JobFilterError: ``status`` is not a job status.
        """
        if limit < 1:
            raise FlowError("limit must be at least 1")
        flt = filter or JobFilter.parse(status=status, flow=flow)
        score, after = _split_page_cursor(cursor)
        rows: list[dict[str, Any]] = []
        read = 0
        for job_id, created, row in scan_jobs(self.ops, flt, score, after):
            read += 1
            score, after = created, job_id
            if row is not None:
                rows.append(row)
                if len(rows) == limit:
                    return {"jobs": rows, "next_cursor": _page_cursor(score, after)}
            if read >= PAGE_SCAN_LIMIT:
                return {"jobs": rows, "next_cursor": _page_cursor(score, after)}
        return {"jobs": rows, "next_cursor": None}

    def jobs(self, status: str | None = None, filter: JobFilter | None = None,
             limit: int | None = None) -> list[dict[str, Any]]:
        """Rows (see :meth:`job_page`) of every job ``filter`` (or just ``status``) matches, newest first.

        ``limit`` stops after that many.
        """
        flt = filter or JobFilter.parse(status=status)
        rows = []
        for _, _, row in scan_jobs(self.ops, flt):
            if row is not None:
                rows.append(row)
                if limit is not None and len(rows) >= limit:
                    break
        return rows


def scan_jobs(ops: OpsStore, flt: JobFilter, score: float | str = "+inf",
              after: str | None = None) -> Iterator[tuple[str, float, dict[str, Any] | None]]:
    """(job id, created ms, row if it matches else None) of every indexed job in ``flt``'s time range, newest first.

    Starts below the cursor (``score``, ``after``): entries of equal score are ordered by id, descending.
    """
    high, low = flt.score_range()
    if high != "+inf" and (score == "+inf" or float(high) < float(score)):
        score, after = high, None
    batch = _BATCH
    while True:
        raw = ops.jobs_before(score, batch + 1, low)
        index = [(j, s) for j, s in raw if not _seen(j, s, score, after)]
        if not index and len(raw) > batch:
            batch *= 2  # more jobs share this millisecond than a batch holds: read a longer one
            continue
        rows = _matching_rows(ops, flt, index)
        for job_id, created in index:
            score, after = created, job_id
            yield job_id, created, rows.get(job_id)
        if len(raw) <= batch:
            return
        batch = _BATCH


def _matching_rows(ops: OpsStore, flt: JobFilter, index: list[tuple[str, float]]) -> dict[str, dict[str, Any]]:
    created = {j: s for j, s in index if flt.matches_id(j)}
    ids = list(created)
    metas = dict(zip(ids, ops.job_fields(ids, ROW_FIELDS)))
    kept = [j for j in ids if metas[j] and flt.matches_meta(metas[j])]
    if flt.where and kept:
        data = ops.entry_and_shared(kept, flt.where_keys)
        kept = [j for j, (params, shared) in zip(kept, data) if flt.matches_data(params, shared)]
    return {j: job_row(j, metas[j], created[j]) for j in kept}


def job_row(job_id: str, meta: dict[str, str], created_ms: float | None) -> dict[str, Any]:
    """A job's row: its meta fields with times as ISO text, its duration, and its links to other jobs."""
    ended = meta.get("finished_at")
    duration = None
    if ended and created_ms is not None:
        duration = round(max(0.0, int(ended) - float(created_ms)) / 1000, 3)
    return {"job_id": job_id, "flow_id": meta.get("flow_id"), "flow_hash": meta.get("flow_hash"),
            "status": meta.get("status"), "priority": of_meta(meta),
            "tenant": meta.get("tenant") or None, "concurrency_key": meta.get("concurrency_key") or None,
            "created_at": meta.get("created_at"),
            "started_at": ms_to_iso(meta["started_at"]) if meta.get("started_at") else None,
            "ended_at": ms_to_iso(ended) if ended else None, "duration_s": duration,
            "updated_at": ms_to_iso(meta["updated_at"]) if meta.get("updated_at") else None,
            "error": meta.get("error") or None, "forked_from": forked_from(meta),
            "retried_from": meta.get("retried_from") or None,
            "retries": [r for r in (meta.get("retries") or "").split(",") if r],
            "parent": parent_of(meta), "children": children_of(meta)}


def _page_cursor(score: float | str, job_id: str) -> str:
    return f"{int(float(score))}:{job_id}"


def _split_page_cursor(cursor: str | None) -> tuple[float | str, str | None]:
    if not cursor:
        return "+inf", None
    score, sep, job_id = cursor.partition(":")
    try:
        return float(score), job_id if sep else None
    except ValueError:
        raise FlowError(f"not a job page cursor: {cursor!r}") from None


def _seen(job_id: str, score: float, cursor_score: float | str, after: str | None) -> bool:
    """Whether an index entry is at or before the cursor (equal scores are ordered by id, descending)."""
    return after is not None and score == cursor_score and job_id >= after


def forked_from(meta: dict[str, str]) -> dict[str, str] | None:
    """Where a forked job came from: ``{"job_id", "at"}`` (a stream entry of that job), else None."""
    if not meta.get("forked_from"):
        return None
    return {"job_id": meta["forked_from"], "at": meta.get("forked_at", "")}
