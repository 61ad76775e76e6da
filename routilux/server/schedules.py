"""``/api/schedules``: list, create, delete, pause, resume and trigger schedules (writes need an operator).

Each schedule comes as :meth:`DistributedRuntime.get_schedule` gives it: spec, ``paused``,
``next_ms`` and ``last_tick_ms`` (epoch ms), ``last_job``, counts, and its latest tick records
with their job ids: what a console page shows as next and last fire times and the schedule's jobs.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.responses import Response

from routilux.distributed.flows import check_flow_id
from routilux.server import auth
from routilux.server.jsonout import json_response

router = APIRouter(prefix="/api/schedules", tags=["schedules"])
SCHEDULE_ID = Path(min_length=1, max_length=200)


class ScheduleBody(BaseModel):
    """A schedule to create or replace: give ``cron`` or ``every_s``; times are epoch seconds."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=200)
    flow: str = Field(min_length=1, max_length=200)
    entry: str = Field(min_length=1, max_length=200)
    params: dict[str, Any] = Field(default_factory=dict)
    cron: str | None = Field(default=None, max_length=200)
    every_s: float | None = None
    timezone: str = Field(default="UTC", max_length=100)
    overlap: Literal["skip", "allow", "cancel_previous"] = "skip"
    catch_up: Literal["skip", "one", "all"] = "skip"
    start_at: float | None = None
    end_at: float | None = None
    priority: int | None = Field(default=None, ge=0, le=9, description="each tick's job's priority (default 5)")
    tenant: str | None = Field(default=None, min_length=1, max_length=64, description="each tick's job's tenant")
    concurrency_key: str | None = Field(default=None, min_length=1, max_length=200,
                                        description="each tick's job holds one of this key's slots")

    @field_validator("flow")
    @classmethod
    def _flow_is_valid(cls, value: str) -> str:
        check_flow_id(value)  # a content hash passes too
        return value


def runtime(request: Request) -> Any:
    """The DistributedRuntime this app serves."""
    return request.app.state.runtime


@router.get("", summary="List schedules", dependencies=[Depends(auth.viewer)])
def list_schedules(request: Request) -> Response:
    """Every schedule with its next and last fire times, counts and latest ticks."""
    return json_response({"schedules": runtime(request).schedules()})


@router.post("", status_code=201, summary="Create or replace a schedule", dependencies=[Depends(auth.operator)])
def create(request: Request, body: ScheduleBody) -> Response:
    """Create (or replace) a schedule; answers ``201`` with it (422 for a bad cron, interval, zone or entry)."""
    info = runtime(request).schedule(body.id, body.flow, body.entry, body.params, cron=body.cron,
                                     every_s=body.every_s, timezone=body.timezone, overlap=body.overlap,
                                     catch_up=body.catch_up, start_at=body.start_at, end_at=body.end_at,
                                     priority=body.priority, tenant=body.tenant,
                                     concurrency_key=body.concurrency_key)
    return json_response(info, 201, {"Location": f"/api/schedules/{body.id}"})


@router.get("/{schedule_id}", summary="One schedule", dependencies=[Depends(auth.viewer)])
def get(request: Request, schedule_id: str = SCHEDULE_ID) -> Response:
    """One schedule (404 if unknown)."""
    return json_response(runtime(request).get_schedule(schedule_id))


@router.delete("/{schedule_id}", status_code=204, summary="Delete a schedule", dependencies=[Depends(auth.operator)])
def delete(request: Request, schedule_id: str = SCHEDULE_ID) -> Response:
    """Delete a schedule (404 if unknown); the jobs it started stay."""
    runtime(request).delete_schedule(schedule_id)
    return Response(status_code=204)


@router.post("/{schedule_id}/pause", summary="Pause a schedule", dependencies=[Depends(auth.operator)])
def pause(request: Request, schedule_id: str = SCHEDULE_ID) -> Response:
    """Stop firing a schedule; answers with it."""
    runtime(request).pause_schedule(schedule_id)
    return json_response(runtime(request).get_schedule(schedule_id))


@router.post("/{schedule_id}/resume", summary="Resume a schedule", dependencies=[Depends(auth.operator)])
def resume(request: Request, schedule_id: str = SCHEDULE_ID) -> Response:
    """Fire a paused schedule again from its next tick; answers with it."""
    runtime(request).resume_schedule(schedule_id)
    return json_response(runtime(request).get_schedule(schedule_id))


@router.post("/{schedule_id}/trigger", status_code=201, summary="Start one job now",
             dependencies=[Depends(auth.operator)])
def trigger(request: Request, schedule_id: str = SCHEDULE_ID) -> Response:
    """Start one job of the schedule now; answers ``201 {"job_id"}``."""
    job_id = runtime(request).trigger_schedule(schedule_id)
    return json_response({"job_id": job_id}, 201, {"Location": f"/api/jobs/{job_id}"})
