"""``/api/jobs``: submit, list, inspect, steer and delete jobs; time travel and fork."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from routilux.distributed.fork import fork_job
from routilux.distributed.history import positions, replay_job
from routilux.job_state import STATUSES
from routilux.server import auth
from routilux.server.errors import ApiError
from routilux.server.jsonout import json_response

router = APIRouter(prefix="/api/jobs", tags=["jobs"])
STREAM_ID = r"^(0|\d{1,20}-\d{1,20})$"             # an entry of a job's stream (a history position)
EVENT_ID = r"^(0|\d{1,20}-\d{1,20}(\.\d{1,9})?)$"  # an event: "<entry id>.<position in the entry>"


class SubmitBody(BaseModel):
    """A job to start: a published flow (id or content hash), its entry routine and the entry parameters."""

    model_config = ConfigDict(extra="forbid")
    flow: str = Field(min_length=1, max_length=200)
    entry: str = Field(min_length=1, max_length=200)
    params: dict[str, Any] = Field(default_factory=dict)


class ReasonBody(BaseModel):
    """Why a job is paused or cancelled (kept in the job's history)."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=2000)


class ForkBody(BaseModel):
    """Where to fork from: a stream entry id of the job's history (default: its last entry)."""

    model_config = ConfigDict(extra="forbid")
    at: str | None = Field(default=None, pattern=STREAM_ID)


def runtime(request: Request) -> Any:
    """The DistributedRuntime this app serves."""
    return request.app.state.runtime


@router.post("", status_code=201, summary="Submit a job", dependencies=[Depends(auth.operator)])
def submit(request: Request, body: SubmitBody) -> Response:
    """Start a job of a published flow at its entry routine; answers ``201 {"job_id"}``."""
    job_id = runtime(request).submit(body.flow, body.entry, entry_params=body.params)
    return json_response({"job_id": job_id}, 201, {"Location": f"/api/jobs/{job_id}"})


@router.get("", summary="List jobs, newest first", dependencies=[Depends(auth.viewer)])
def list_jobs(
    request: Request,
    status: str | None = Query(None, description=f"one of {', '.join(STATUSES)}"),
    flow: str | None = Query(None, max_length=200),
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = Query(None, max_length=200),
) -> Response:
    """A page of job summaries; pass ``next_cursor`` back as ``cursor`` for the next page."""
    if status is not None and status not in STATUSES:
        raise ApiError(422, "ValidationError", f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    page = runtime(request).job_page(status=status, flow=flow, limit=limit, cursor=cursor)
    return json_response(page)


@router.get("/{job_id}", summary="A job's JobState and summary", dependencies=[Depends(auth.viewer)])
def get_job(request: Request, job_id: str) -> Response:
    """``{"summary": ..., "job": JobState.serialize(), "routines": ...}``.

    ``job_id`` may be a unique prefix of the id (400 ``AmbiguousIdError`` lists the candidates).
    ``routines`` gives each routine's state right now, from the job's stream: "running" while it
    has work waiting or in flight, then "completed" or "failed" (what the flow graph is coloured by).
    """
    rt = runtime(request)
    job_id = rt.resolve_job_id(job_id)  # the short ids the console and the CLI print work in URLs too
    summary = rt.job_summary(job_id)
    job = rt.get_job(job_id).serialize()
    return json_response({"summary": summary, "job": job, "routines": replay_job(rt.store, job_id).routines()})


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
    return json_response({"job_id": job_id, "positions": positions(rt.store, job_id)})


@router.get("/{job_id}/state", summary="The JobState as it was after a history position",
            dependencies=[Depends(auth.viewer)])
def state_at(request: Request, job_id: str, at: str | None = Query(None, pattern=STREAM_ID)) -> Response:
    """Rebuilt from the job's stream up to entry ``at`` (default: the last); ``pending_tasks`` is what was left."""
    rt = runtime(request)
    job_id = rt.resolve_job_id(job_id)
    replay = replay_job(rt.store, job_id, at)
    return json_response({"job_id": job_id, "at": replay.position, "entries": replay.entries,
                          "routines": replay.routines(), "job": replay.state.serialize()})


@router.post("/{job_id}/fork", status_code=201, summary="Continue from a history position as a new job",
             dependencies=[Depends(auth.operator)])
def fork(request: Request, job_id: str, body: ForkBody | None = Body(None)) -> Response:
    """A new job starts with the state after entry ``at`` and runs what was still to run there."""
    new_id = fork_job(runtime(request), job_id, (body or ForkBody()).at)
    return json_response({"job_id": new_id, "forked_from": job_id}, 201, {"Location": f"/api/jobs/{new_id}"})
