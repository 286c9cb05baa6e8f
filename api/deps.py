"""Typed dependencies: routes read like plain functions, and tests override `get_runtime`.

Every route but health declares the role it needs (`Reader`, `Editor`, `Admin`): the dependency authenticates the
API key (`Authorization: Bearer <key>` or `X-API-Key`), checks the role and the rate limits, and gives the route
the Principal, whose tenant scopes everything the route reads or writes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.errors import ApiError
from core.access import Principal, Role
from core.settings import Settings
from workers.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def get_settings(request: Request) -> Settings:
    return request.app.state.runtime.settings


def _key_of(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.headers.get("x-api-key") or None


def _authenticate(request: Request, runtime: Runtime) -> Principal:
    key = _key_of(request)
    if key is None:
        if not runtime.auth_required():
            return Principal(runtime.settings.tenant, Role.ADMIN)
        raise ApiError(401, "unauthorized", "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key'")
    principal = runtime.keys.authenticate(key)
    if principal is None:
        raise ApiError(401, "unauthorized", "the API key is not valid (unknown or revoked)")
    return principal


def require(role: Role):
    def dependency(request: Request) -> Principal:
        runtime = get_runtime(request)
        principal = _authenticate(request, runtime)
        if not principal.can(role):
            raise ApiError(403, "forbidden", f"this route needs the {role.value} role; the key has {principal.role.value}")
        retry_after = runtime.rate_limiter.retry_after(principal)
        if retry_after is not None:
            raise ApiError(429, "rate_limited", f"too many requests; retry in {retry_after} s",
                           headers={"Retry-After": str(retry_after)})
        request.state.principal = principal
        return principal

    return dependency


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
Reader = Annotated[Principal, Depends(require(Role.READER))]
Editor = Annotated[Principal, Depends(require(Role.EDITOR))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
