"""``/api/flows``: published flows, their versions and their graphs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from routilux.distributed.operations.jobfilter import parse_age
from routilux.distributed.flows import check_flow_id
from routilux.errors import FlowNotPublishedError
from routilux.server import auth
from routilux.server.jsonout import json_response

router = APIRouter(prefix="/api/flows", tags=["flows"], dependencies=[Depends(auth.viewer)])


@router.get("", summary="Published flows and their versions")
def list_flows(request: Request) -> Response:
    """``{"flows": [{"flow_id", "latest", "versions": [{"hash", "published_at"}]}]}``."""
    return json_response({"flows": request.app.state.runtime.flows()})


@router.get("/{flow_id}", summary="One flow: versions and the graph of one of them")
def get_flow(request: Request, flow_id: str, version: str | None = Query(None, max_length=64)) -> Response:
    """The flow's versions and the routines, slots, events and connections of ``version`` (default: latest).

    ``flow_id`` may also be a content hash.
    """
    rt = request.app.state.runtime
    check_flow_id(flow_id)
    graph = rt.flow_info(version or flow_id)
    entry = _entry(rt.flows(), graph["flow_id"])
    if version and entry is not None and version not in {v["hash"] for v in entry["versions"]}:
        raise FlowNotPublishedError(f"flow {flow_id!r} has no version {version}")
    return json_response({"flow_id": graph["flow_id"], "latest": entry["latest"] if entry else graph["hash"],
                          "versions": entry["versions"] if entry else [], "graph": graph})


@router.get("/{flow_id}/stats", summary="Step times per routine and ended jobs over time")
def flow_stats(request: Request, flow_id: str, window: str = Query("1h", max_length=20, description="90s, 15m, 1h, 2d"),
               buckets: int = Query(30, ge=1, le=500)) -> Response:
    """``{"routines": {rid: {"count", "failed", "p50_ms", "p95_ms"}}, "series": [{"t", "completed", "failed"}],
    "window_s", "bucket_s", "sampled_jobs"}`` for the flow's jobs that ended in the window."""
    stats = request.app.state.runtime.flow_stats(flow_id, window_s=parse_age(window), buckets=buckets)
    return json_response(stats)


def _entry(flows: list[dict[str, Any]], flow_id: str) -> dict[str, Any] | None:
    return next((f for f in flows if f["flow_id"] == flow_id), None)
