"""API keys and roles: who may call what, for which tenant. A key is shown once and stored as its sha256."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select

from core.db import CONNECTION_ERRORS, ApiKeyRow, Database, DatabaseUnavailable, utcnow

KEY_PREFIX = "cairn_"


class Role(StrEnum):
    READER = "reader"  # search, ask, give feedback, read documents, jobs and answers
    EDITOR = "editor"  # + upload and delete documents, work the review queue
    ADMIN = "admin"  # + evals, API keys, metrics, cost and drift reports

    @property
    def rank(self) -> int:
        return list(Role).index(self)


@dataclass(frozen=True)
class Principal:
    """Who a request acts for. `key_id` is None when the API is open (no keys; local embedded use)."""

    tenant: str
    role: Role
    key_id: str | None = None

    def can(self, needed: Role) -> bool:
        return self.role.rank >= needed.rank


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyStore:
    def __init__(self, db: Database, any_key_ttl_s: float = 2.0):
        self.db = db
        self._any_key_ttl_s = any_key_ttl_s
        self._any_key: tuple[float, bool] | None = None

    def create(self, tenant: str, role: Role | str, name: str) -> tuple[ApiKeyRow, str]:
        """A new key for `tenant` with `role`; returns (row, the key itself: shown once, never stored)."""
        role = Role(role)
        if not tenant.strip() or not name.strip():
            raise ValueError("a key needs a tenant and a name")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        row = ApiKeyRow(id=str(uuid.uuid4()), key_hash=_digest(key), prefix=key[: len(KEY_PREFIX) + 6], name=name,
                        tenant=tenant, role=role.value)
        with self.db.session() as s:
            s.add(row)
        self._any_key = None
        return row, key

    def authenticate(self, key: str) -> Principal | None:
        with self.db.session() as s:
            row = s.scalars(select(ApiKeyRow).where(ApiKeyRow.key_hash == _digest(key))).first()
        if row is None or row.revoked_at is not None:
            return None
        return Principal(row.tenant, Role(row.role), row.id)

    def list(self, tenant: str | None = None) -> list[ApiKeyRow]:
        query = select(ApiKeyRow).order_by(ApiKeyRow.created_at)
        if tenant is not None:
            query = query.where(ApiKeyRow.tenant == tenant)
        with self.db.session() as s:
            return list(s.scalars(query))

    def revoke(self, key_id: str, tenant: str | None = None) -> bool:
        with self.db.session() as s:
            row = s.get(ApiKeyRow, key_id)
            if row is None or (tenant is not None and row.tenant != tenant):
                return False
            row.revoked_at = row.revoked_at or utcnow()
        self._any_key = None
        return True

    def any_active(self) -> bool:
        """Whether any unrevoked key exists (cached for a moment: asked on every request of an open API). While the
        database cannot be reached the last answer stands, so that what needs no database (search reads only the
        index) goes on serving; before any answer, the failure is raised."""
        now = time.monotonic()
        if self._any_key is None or now - self._any_key[0] > self._any_key_ttl_s:
            try:
                with self.db.session() as s:
                    found = s.scalars(select(ApiKeyRow.id).where(ApiKeyRow.revoked_at.is_(None)).limit(1)).first()
            except (*CONNECTION_ERRORS, DatabaseUnavailable):
                if self._any_key is None:
                    raise
                return self._any_key[1]
            self._any_key = (now, found is not None)
        return self._any_key[1]
