"""``/api/workers``, ``/api/limits`` and ``/api/dead-letters``."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from routilux import codec
from routilux.server import auth
from routilux.server.jsonout import json_response

router = APIRouter(prefix="/api", tags=["operations"])


@router.get("/workers", summary="Live workers and what each runs now", dependencies=[Depends(auth.viewer)])
def workers(request: Request) -> Response:
    """``{"workers": [{"name", "host", "pid", "queues", "pool", "concurrency", "started_at", "uptime_s", "processed",
    "failed", "heartbeat_age_s", "last_renewed", "running"}]}``."""
    found = request.app.state.runtime.workers()
    rows = [{"name": name, **info} for name, info in sorted(found.items())]
    return json_response({"workers": rows})


@router.get("/limits", summary="Concurrency and rate limits: holders and waiting work",
            dependencies=[Depends(auth.viewer)])
def limits(request: Request) -> Response:
    """``{"limits": [{"name", "kind", "limit", "holders": [{"holder", "until_ms"}], "waiting": [{"holder",
    "since_ms" | "start_ms"}], "burst", "tokens"}]}``: ``limit`` is slots, or starts per second for a rate."""
    return json_response({"limits": request.app.state.runtime.limits()})


@router.post("/workers/{name}/shutdown", status_code=202, summary="Ask a worker to stop warmly",
             dependencies=[Depends(auth.operator)])
def shutdown_worker(request: Request, name: str) -> Response:
    """The worker takes no new activations, lets its running ones commit, and exits (404 if it is not live)."""
    request.app.state.runtime.shutdown_worker(name)
    return json_response({"name": name, "shutdown": "requested"}, 202)


def dead_letter_view(entry: dict[str, Any]) -> dict[str, Any]:
    """A dead letter with its body decoded (the activation envelope) when it is Routilux msgpack."""
    out = {k: v for k, v in entry.items() if k != "body"}
    body = entry.get("body") or b""
    if isinstance(body, str):
        body = body.encode()
    try:
        out["envelope"] = codec.unpackb(body) if body else None
    except Exception:  # a foreign or malformed message: show its bytes
        out["envelope"] = None
        out["body_base64"] = base64.b64encode(body).decode()
    return out


@router.get("/dead-letters", summary="The newest dead letters", dependencies=[Depends(auth.viewer)])
def dead_letters(request: Request, count: int = Query(100, ge=1, le=1000)) -> Response:
    """``{"dead_letters": [{"id", "job", "activation", "reason", "ts", "envelope"}]}``, newest first."""
    rows = request.app.state.runtime.dead_letters(count)
    return json_response({"dead_letters": [dead_letter_view(r) for r in rows]})


@router.get("/dead-letters/{dead_id}", summary="One dead letter", dependencies=[Depends(auth.viewer)])
def dead_letter(request: Request, dead_id: str) -> Response:
    """The entry with its decoded envelope (404 if unknown)."""
    return json_response(dead_letter_view(request.app.state.runtime.dead_letter(dead_id)))


@router.post("/dead-letters/{dead_id}/replay", summary="Re-queue a dead letter on its job",
             dependencies=[Depends(auth.operator)])
def replay(request: Request, dead_id: str) -> Response:
    """The activation runs again; its job resumes if it failed only because of it. The entry is removed."""
    job_id = request.app.state.runtime.replay_dead_letter(dead_id)
    return json_response({"job_id": job_id, "replayed": dead_id})


@router.delete("/dead-letters/{dead_id}", status_code=204, summary="Discard a dead letter",
               dependencies=[Depends(auth.operator)])
def discard(request: Request, dead_id: str) -> Response:
    """Remove the entry for good."""
    request.app.state.runtime.discard_dead_letter(dead_id)
    return Response(status_code=204)
