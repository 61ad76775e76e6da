"""``/api/jobs``: submit, list, inspect, steer and delete jobs; time travel and fork."""

from __future__ import annotations

import re
from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, Header, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.responses import Response

from routilux.distributed.flows import check_flow_id
from routilux.distributed.operations.jobfilter import JobFilter
from routilux.errors import SelectionChangedError
from routilux.job_state import STATUSES
from routilux.server import auth
from routilux.server.errors import ApiError
from routilux.server.jsonout import json_response

router = APIRouter(prefix="/api/jobs", tags=["jobs"])
MAX_BATCH_ITEMS = 1000  # jobs per POST /api/jobs/batch
STREAM_ID = r"^(0|\d{1,20}-\d{1,20})$"             # an entry of a job's stream (a history position)
EVENT_ID = r"^(0|\d{1,20}-\d{1,20}(\.\d{1,9})?)$"  # an event: "<entry id>.<position in the entry>"
ID_PART_MAX = 2**64 - 1                                # Redis keeps each half of a stream id in 64 bits


def in_redis_range(value: str) -> bool:
    """Whether both halves of the stream id (or event id) ``value`` fit in Redis's 64 bits."""
    return all(int(part) <= ID_PART_MAX for part in value.split(".")[0].split("-"))


def check_event_id(value: str, name: str = "cursor") -> str:
    """``value`` if it is a stream or event id within Redis's range.

    Raises:
        ApiError 422: it is not.
    """
    if not re.match(EVENT_ID, value) or not in_redis_range(value):
        raise ApiError(422, "ValidationError", f"{name}: {value[:60]!r} is not a stream id (MS-SEQ, each below 2^64)")
    return value


def _stream_id(value: str | None) -> str | None:
    if value is not None and not in_redis_range(value):
        raise ValueError("each half of a stream id must be below 2^64")
    return value


def _flow_ref(value: str) -> str:
    check_flow_id(value)  # a content hash passes too
    return value


class SubmitBody(BaseModel):
    """A job to start: a published flow (id or content hash), its entry routine and the entry parameters."""

    model_config = ConfigDict(extra="forbid")
    flow: str = Field(min_length=1, max_length=200)
    entry: str = Field(min_length=1, max_length=200)
    params: dict[str, Any] = Field(default_factory=dict)
    priority: int | None = Field(default=None, ge=0, le=9, description="0 to 9, higher first (default 5)")
    tenant: str | None = Field(default=None, min_length=1, max_length=64, description="whose job it is (fair share)")
    concurrency_key: str | None = Field(default=None, min_length=1, max_length=200,
                                        description="hold one of this key's slots while the job runs")

    _flow_is_valid = field_validator("flow")(_flow_ref)


class BatchItem(SubmitBody):
    """One job of a batch: a :class:`SubmitBody`, and optionally its timeout in seconds."""

    timeout: float | None = Field(default=None, ge=0)


class BatchBody(BaseModel):
    """Jobs to start in one request, at most :data:`MAX_BATCH_ITEMS`."""

    model_config = ConfigDict(extra="forbid")
    items: list[BatchItem] = Field(min_length=1, max_length=MAX_BATCH_ITEMS)


class ReasonBody(BaseModel):
    """Why a job is paused or cancelled (kept in the job's history)."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=2000)


class PostBody(BaseModel):
    """Data for one slot of a running job; ``id`` makes a retried post a no-op (default: a fresh one)."""

    model_config = ConfigDict(extra="forbid")
    routine: str = Field(min_length=1, max_length=200)
    slot: str = Field(min_length=1, max_length=200)
    data: dict[str, Any] = Field(default_factory=dict)
    id: str | None = Field(default=None, min_length=1, max_length=200)


class ForkBody(BaseModel):
    """Where to fork from: a stream entry id of the job's history (default: its last entry)."""

    model_config = ConfigDict(extra="forbid")
    at: str | None = Field(default=None, pattern=STREAM_ID)

    _at_in_range = field_validator("at")(_stream_id)


class FilterBody(BaseModel):
    """A job filter in a body: the query's keys, with lists for status and where."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(default=None, max_length=200)
    flow: str | None = Field(default=None, max_length=200)
    status: list[str] = Field(default_factory=list, max_length=10)
    since: str | float | None = None
    until: str | float | None = None
    error: str | None = Field(default=None, max_length=500)
    where: list[str] = Field(default_factory=list, max_length=20)

    def to_filter(self) -> JobFilter:
        """The :class:`JobFilter` it describes."""
        return JobFilter.parse(id=self.id, flow=self.flow, status=self.status, since=self.since, until=self.until,
                               error=self.error, where=self.where)


class BulkBody(BaseModel):
    """An action on every job a filter selects: a dry run counts them; a real one must ``expect`` that count."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["cancel", "delete", "resume", "replay_dead_letters"]
    filter: FilterBody = Field(default_factory=FilterBody)
    dry_run: bool = True
    expect: int | None = Field(default=None, ge=0)
    reason: str = Field(default="", max_length=2000)


def runtime(request: Request) -> Any:
    """The DistributedRuntime this app serves."""
    return request.app.state.runtime


@router.post("", status_code=201, summary="Submit a job", dependencies=[Depends(auth.operator)])
def submit(request: Request, body: SubmitBody,
           idempotency_key: str | None = Header(None, max_length=256, description="submit at most once per key")
           ) -> Response:
    """Start a job of a published flow at its entry routine; answers ``201 {"job_id", "created": true}``.

    With an ``Idempotency-Key`` header that already names a stored job, nothing is
    made: ``200 {"job_id", "created": false}`` names that job (whatever its flow and
    parameters), with the header ``Idempotent-Replayed: true``.
    """
    rt = runtime(request)
    if idempotency_key is None:
        job_id, created = rt.submit(body.flow, body.entry, entry_params=body.params, priority=body.priority,
                                    tenant=body.tenant, concurrency_key=body.concurrency_key), True
    else:
        job_id, created = rt.submit_once(body.flow, body.entry, body.params, idempotency_key=idempotency_key,
                                         priority=body.priority, tenant=body.tenant,
                                         concurrency_key=body.concurrency_key)
    headers = {"Location": f"/api/jobs/{job_id}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return json_response({"job_id": job_id, "created": created}, 201 if created else 200, headers)


@router.post("/batch", status_code=201, summary="Submit many jobs", dependencies=[Depends(auth.operator)])
def submit_batch(request: Request, body: BatchBody) -> Response:
    """Start a job per item, in bulk; answers ``201 {"job_ids"}`` in the items' order.

    An item that is refused (unknown flow or entry routine, parameters that cannot be
    encoded) answers 422 naming its index, and no job of the request was started.
    """
    items = [item.model_dump(exclude_none=True) for item in body.items]
    job_ids = runtime(request).submit_many(items, chunk_size=MAX_BATCH_ITEMS)
    return json_response({"job_ids": job_ids}, 201)


def job_filter(
    id: str | None = Query(None, max_length=200, description="job id prefix"),
    flow: str | None = Query(None, max_length=200, description="substring of the flow id (or prefix of its hash)"),
    status: str | None = Query(None, max_length=200, description=f"comma list of {', '.join(STATUSES)}"),
    since: str | None = Query(None, max_length=64, description="created at or after: ISO-8601, epoch s, or an age (1h)"),
    until: str | None = Query(None, max_length=64, description="created at or before (same forms)"),
    error: str | None = Query(None, max_length=500, description="substring of the job's error"),
    where: list[str] = Query([], description="key=value on entry params or shared data (repeatable)"),
) -> JobFilter:
    """The :class:`JobFilter` of a request's query (422 for a status, time or flow id it cannot read)."""
    if flow is not None:
        check_flow_id(flow)
    return JobFilter.parse(id=id, flow=flow, status=status, since=since, until=until, error=error, where=where)


@router.get("", summary="List jobs, newest first", dependencies=[Depends(auth.viewer)])
def list_jobs(
    request: Request,
    flt: JobFilter = Depends(job_filter),
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = Query(None, max_length=200),
) -> Response:
    """A page of the jobs the filter matches; pass ``next_cursor`` back as ``cursor`` for the next page."""
    return json_response(runtime(request).job_page(flt, limit=limit, cursor=cursor))


@router.post("/bulk", summary="Count, or act on, every job a filter selects", dependencies=[Depends(auth.operator)])
def bulk(request: Request, body: BulkBody) -> Response:
    """A dry run answers the count and the first 100 ids; a real run needs ``expect`` equal to that count (409 with
    the count now, as ``error.matched``, if it changed) and answers what was done and what failed."""
    if not body.dry_run and body.expect is None:
        raise ApiError(422, "ValidationError", "a bulk action that is not a dry run needs expect: the dry run's count")
    try:
        answer = runtime(request).bulk(body.action, body.filter.to_filter(), dry_run=body.dry_run,
                                       expect=body.expect, reason=body.reason)
    except SelectionChangedError as exc:
        return json_response({"error": {"type": "SelectionChangedError", "message": str(exc),
                                        "matched": exc.matched}}, 409)
    return json_response(answer)


@router.get("/{job_id}", summary="A job's JobState and summary", dependencies=[Depends(auth.viewer)])
def get_job(request: Request, job_id: str) -> Response:
    """``{"summary": ..., "job": JobState.serialize(), "routines": ...}``.

    ``summary.waiting_on`` lists the job's activations parked by a concurrency or rate
    limit: ``{"activation", "limit", "kind", "since_ms" | "start_ms"}`` (why it waits).

    ``job_id`` may be a unique prefix of the id (400 ``AmbiguousIdError`` lists the candidates).
    ``routines`` gives each routine's state right now, from the job's stream: "running" while it
    has work waiting or in flight, then "completed" or "failed" (what the flow graph is coloured by).
    """
    rt = runtime(request)
    job_id = rt.resolve_job_id(job_id)  # the short ids the console and the CLI print work in URLs too
    summary = {**rt.job_summary(job_id), "waiting_on": rt.waiting_on(job_id)}
    job = rt.get_job(job_id).serialize()
    return json_response({"summary": summary, "job": job, "routines": rt.state_at(job_id).routines()})


@router.post("/{job_id}/pause", summary="Pause a running job", dependencies=[Depends(auth.operator)])
def pause(request: Request, job_id: str, body: ReasonBody | None = Body(None)) -> Response:
    """Nothing more of the job runs until it is resumed."""
    rt = runtime(request)
    rt.job_summary(job_id)  # 404 for an unknown job (pause itself would call it "not running")
    rt.pause(job_id, reason=(body or ReasonBody()).reason)
    return json_response({"job_id": job_id, "status": "paused"})


@router.post("/{job_id}/resume", summary="Resume a paused job", dependencies=[Depends(auth.operator)])
def resume(request: Request, job_id: str, body: ReasonBody | None = Body(None)) -> Response:
    """Continue on whichever workers are up."""
    runtime(request).resume(job_id)
    return json_response({"job_id": job_id, "status": "running"})


@router.post("/{job_id}/cancel", summary="Cancel a job for good", dependencies=[Depends(auth.operator)])
def cancel(request: Request, job_id: str, body: ReasonBody | None = Body(None)) -> Response:
    """Nothing of the job runs afterwards."""
    runtime(request).cancel(job_id, reason=(body or ReasonBody()).reason)
    return json_response({"job_id": job_id, "status": "cancelled"})


@router.post("/{job_id}/post", summary="Post data to a slot of a running job", dependencies=[Depends(auth.operator)])
def post(request: Request, job_id: str, body: PostBody) -> Response:
    """One activation of the slot per post id: ``{"job_id", "outcome"}`` with outcome posted, duplicate or late
    (its wait timed out first); 409 once the job has ended, 404/422 for an unknown job, routine or slot."""
    rt = runtime(request)
    job_id = rt.resolve_job_id(job_id)
    outcome = rt.post(job_id, body.routine, body.slot, body.data, post_id=body.id)
    return json_response({"job_id": job_id, "outcome": outcome})


@router.delete("/{job_id}", status_code=204, summary="Delete a finished job", dependencies=[Depends(auth.operator)])
def delete(request: Request, job_id: str) -> Response:
    """Forget a completed, failed or cancelled job (409 while it runs or is paused)."""
    rt = runtime(request)
    rt.job_summary(job_id)  # 404 for an unknown job
    rt.delete_job(job_id)
    return Response(status_code=204)


@router.get("/{job_id}/history", summary="Positions of the job's history", dependencies=[Depends(auth.viewer)])
def history(request: Request, job_id: str) -> Response:
    """Every entry of the job's stream (id, kind, activation, status), for the time-travel slider."""
    rt = runtime(request)
    job_id = rt.resolve_job_id(job_id)
    return json_response({"job_id": job_id, "positions": rt.history_positions(job_id)})


@router.get("/{job_id}/state", summary="The JobState as it was after a history position",
            dependencies=[Depends(auth.viewer)])
def state_at(request: Request, job_id: str, at: str | None = Query(None, pattern=STREAM_ID)) -> Response:
    """Rebuilt from the job's stream up to entry ``at`` (default: the last); ``pending_tasks`` is what was left."""
    if at is not None:
        check_event_id(at, "at")
    rt = runtime(request)
    job_id = rt.resolve_job_id(job_id)
    replay = rt.state_at(job_id, at)
    return json_response({"job_id": job_id, "at": replay.position, "entries": replay.entries,
                          "routines": replay.routines(), "job": replay.state.serialize()})


@router.post("/{job_id}/fork", status_code=201, summary="Continue from a history position as a new job",
             dependencies=[Depends(auth.operator)])
def fork(request: Request, job_id: str, body: ForkBody | None = Body(None)) -> Response:
    """A new job starts with the state after entry ``at`` and runs what was still to run there."""
    new_id = runtime(request).fork(job_id, (body or ForkBody()).at)
    return json_response({"job_id": new_id, "forked_from": job_id}, 201, {"Location": f"/api/jobs/{new_id}"})


@router.post("/{job_id}/retry", status_code=201, summary="Run a failed or cancelled job again as a new job",
             dependencies=[Depends(auth.operator)])
def retry(request: Request, job_id: str) -> Response:
    """Same flow version, entry and parameters; the two jobs are linked (``retried_from`` / ``retries``)."""
    new_id = runtime(request).retry(job_id)
    return json_response({"job_id": new_id, "retried_from": job_id}, 201, {"Location": f"/api/jobs/{new_id}"})
