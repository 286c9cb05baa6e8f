"""Typed dependencies: routes read like plain functions, and tests override `get_runtime`.

Every route but health declares the role it needs (`Reader`, `Editor`, `Admin`): the dependency authenticates the
API key (`Authorization: Bearer <key>` or `X-API-Key`), checks the role and the rate limits, and gives the route
the Principal, whose tenant scopes everything the route reads or writes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.errors import ApiError
from core.access import Principal, Role
from core.settings import Settings
from workers.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def get_settings(request: Request) -> Settings:
    return request.app.state.runtime.settings


# Declared as security schemes so that the OpenAPI document (and /docs) shows how to authenticate.
_bearer = HTTPBearer(auto_error=False, description="an API key: `Authorization: Bearer <key>`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key")


def _authenticate(runtime: Runtime, key: str | None) -> Principal:
    # While the API is open, a key is ignored: SDKs (openai, langchain) always send one, often a placeholder.
    if not runtime.auth_required():
        return Principal(runtime.settings.tenant, Role.ADMIN)
    if key is None:
        raise ApiError(401, "unauthorized", "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key'")
    principal = runtime.keys.authenticate(key)
    if principal is None:
        raise ApiError(401, "unauthorized", "the API key is not valid (unknown or revoked)")
    return principal


def require(role: Role):
    def dependency(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
        header: Annotated[str | None, Security(_header)] = None,
    ) -> Principal:
        runtime = get_runtime(request)
        principal = _authenticate(runtime, (bearer.credentials if bearer else None) or header or None)
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


def known_collection(runtime: Runtime, who: Principal, requested: str | None) -> str:
    """The collection a request reads: the deployment's default (which may still be empty) or one the caller's
    tenant has ingested into; ApiError 404 `unknown_collection` for any other, rather than an empty answer."""
    name = requested or runtime.settings.collection
    if name != runtime.settings.collection and name not in {c.name for c in runtime.catalog.collections(who.tenant)}:
        raise ApiError(404, "unknown_collection", f"no collection {name!r}: ingest documents into it first")
    return name
