"""``/api/whoami``: the caller's role, so the console shows only what that role may do."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import Response

from routilux.server import auth
from routilux.server.jsonout import json_response

router = APIRouter(prefix="/api", tags=["session"])


@router.get("/whoami", summary="The caller's role")
def whoami(role: str = Depends(auth.viewer)) -> Response:
    """``{"role": "viewer" | "operator"}`` (operator when the console has no tokens)."""
    return json_response({"role": role})
