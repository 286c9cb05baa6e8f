"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import RuntimeDep
from core.breakers import state

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(runtime: RuntimeDep):
    """Each dependency's state. 200 while answers can be given (`ready`, or `degraded` when the queue or the LLM is
    down: uploads or LLM answers stop, extractive answers go on); 503 when the database or vector store is down."""
    checks: dict[str, str] = {}
    try:
        with runtime.db.session() as s:
            s.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # readiness reports, it does not raise
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        runtime.store.collection_exists("cairn-readiness-probe")
        checks["vector_store"] = "ok"
    except Exception as exc:
        checks["vector_store"] = f"error: {type(exc).__name__}"
    if runtime.settings.redis_url:
        try:
            with runtime.celery.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
            checks["queue"] = "ok"
        except Exception as exc:
            checks["queue"] = f"error: {type(exc).__name__}"
    else:
        checks["queue"] = "ok (in-process)"
    if runtime.settings.answer.generator == "llm":
        # Not part of readiness: without the LLM, answers are extractive (fallback reason llm_unavailable).
        checks["llm"] = "degraded: circuit open" if state(runtime.breakers["llm"]) == "open" else "ok"
    # Answering needs the database and the vector store; without the queue only uploads stop (503), so the process
    # stays in service, "degraded".
    ready = all(checks[name].startswith("ok") for name in ("database", "vector_store"))
    whole = all(value.startswith("ok") for value in checks.values())
    breakers = {name: state(b) for name, b in runtime.breakers.items()}
    status = "unavailable" if not ready else "ready" if whole else "degraded"
    body = {"status": status, "checks": checks, "breakers": breakers}
    return JSONResponse(body, status_code=200 if ready else 503)
