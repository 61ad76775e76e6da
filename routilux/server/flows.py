"""``/api/flows``: published flows, their versions and their graphs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

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


def _entry(flows: list[dict[str, Any]], flow_id: str) -> dict[str, Any] | None:
    return next((f for f in flows if f["flow_id"] == flow_id), None)
