"""Typed dependencies: routes read like plain functions, and tests override `get_runtime`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from core.settings import Settings
from workers.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def get_settings(request: Request) -> Settings:
    return request.app.state.runtime.settings


def get_tenant(request: Request) -> str:
    # API keys bind a tenant (operations issue); until then every request acts for the configured tenant.
    return request.app.state.runtime.settings.tenant


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
TenantDep = Annotated[str, Depends(get_tenant)]
