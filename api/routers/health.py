"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import Reader, ReadinessDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(readiness: ReadinessDep):
    """Each dependency's state. 200 while answers can be given (`ready`, or `degraded` when the queue or the LLM is
    down: uploads or LLM answers stop, extractive answers go on); 503 when the database or vector store is down."""
    ready, body = readiness.report()
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/v1/me")
def me(who: Reader) -> dict:
    """Who the caller is: tenant, role, key id, and whether this deployment requires a key (the console asks). Only
    an open API lets a request through without a key, so a principal without one means no key is required."""
    return {"tenant": who.tenant, "role": who.role.value, "key_id": who.key_id, "auth_required": who.key_id is not None}
