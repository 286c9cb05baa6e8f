"""Errors as JSON `{error: {code, message}}` with the right status, never a stack trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc

from core.types import TransientError
from core.vectorstore import StoreLocked

log = logging.getLogger("cairn.api")


class ApiError(HTTPException):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(status_code=status, detail=message, headers=headers)
        self.code = code


def _body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError):
        return JSONResponse(_body(exc.code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException):
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status_code, "http_error")
        return JSONResponse(_body(code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse(_body("invalid_request", problems or "invalid request"), status_code=422)

    @app.exception_handler(TransientError)
    async def unavailable(_: Request, exc: TransientError):
        return JSONResponse(_body("unavailable", str(exc)), status_code=503)

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
