"""Errors as JSON `{error: {code, message}}` with the right status, never a stack trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.openai_compat import OPENAI_PATHS, error_body
from core.types import TransientError
from core.vectorstore import StoreLocked

log = logging.getLogger("cairn.api")


class ApiError(HTTPException):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(status_code=status, detail=message, headers=headers)
        self.code = code


def _body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def _error(request: Request, status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    """Cairn's error shape, or OpenAI's (`{error: {message, type, param, code}}`) on the OpenAI-compatible routes,
    whose clients parse that one."""
    body = error_body(status, code, message) if request.url.path in OPENAI_PATHS else _body(code, message)
    return JSONResponse(body, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return _error(request, exc.status_code, exc.code, str(exc.detail), exc.headers)

    @app.exception_handler(StarletteHTTPException)  # FastAPI's HTTPException and Starlette's own (body parsing)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 400:  # a body FastAPI could not read (not UTF-8, not JSON): a bad request, as any other
            return _error(request, 422, "invalid_request", f"the request body could not be read: {exc.detail}")
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status_code, "http_error")
        return _error(request, exc.status_code, code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return _error(request, 422, "invalid_request", problems or "invalid request")

    @app.exception_handler(TransientError)
    async def unavailable(request: Request, exc: TransientError):
        return _error(request, 503, "unavailable", str(exc))

    @app.exception_handler(sa_exc.OperationalError)
    @app.exception_handler(sa_exc.InterfaceError)
    @app.exception_handler(sa_exc.TimeoutError)
    async def database_down(_: Request, exc: Exception):
        log.warning("database unavailable: %s", type(exc).__name__)
        return JSONResponse(_body("unavailable", "the database is unavailable; try again shortly"), status_code=503)

    @app.exception_handler(StoreLocked)
    async def locked(_: Request, exc: StoreLocked):
        return JSONResponse(_body("unavailable", str(exc)), status_code=503)

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception):
        log.exception("unhandled error")
        return JSONResponse(_body("internal_error", "an internal error occurred; it has been logged"), status_code=500)


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable: invalid_request, unauthorized, forbidden, not_found, too_large, "
                      "unsupported_type, rate_limited, unavailable...")
    message: str = Field(description="what went wrong, for people")


class ErrorBody(BaseModel):
    error: ErrorDetail


_ERRORS = {
    "401": "no API key, or an unknown or revoked one",
    "403": "the key's role may not do this",
    "404": "not found (or another tenant's)",
    "422": "invalid request: the message says which field and why",
    "429": "rate limited: retry after `Retry-After` seconds",
    "503": "a dependency is down (database, vector store, queue)",
}
# A file that is too large or of an unsupported type is rejected on its own, in the 202 body; only a request over
# the whole-request limit is refused.
_UPLOAD_ERRORS = {"413": "the request is larger than the whole-request limit"}


def document_errors(schema: dict) -> dict:
    """Every operation's error responses in the OpenAPI document, with the one shape they all have (FastAPI would
    document its own validation-error shape, which Cairn never sends)."""
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas["ErrorBody"] = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schemas["ErrorBody"].pop("$defs", {}))
    shape = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            if path in ("/healthz", "/readyz"):
                if path == "/readyz":
                    responses["503"] = {"description": "not ready: a dependency is down (the body lists each)"}
                continue
            uploads = (path, method) in (("/v1/documents", "post"), ("/v1/documents/{document_id}", "put"))
            errors = {**_ERRORS, **(_UPLOAD_ERRORS if uploads else {})}
            for status, description in errors.items():
                responses[status] = {"description": description, "content": shape}
    return schema
