"""Embedding cache in the SQL store: vectors keyed by sha256(model id, text)."""

from __future__ import annotations

import numpy as np
from sqlalchemy import bindparam, delete, select

from core.db import Database, EmbeddingCacheRow, insert_for

_CACHE = EmbeddingCacheRow.__table__
_BATCH = 500  # keys per query: well under SQLite's limit on bound parameters
_FIND = select(_CACHE.c.key, _CACHE.c.vector).where(_CACHE.c.key.in_(bindparam("keys", expanding=True)))
_FORGET = delete(_CACHE).where(_CACHE.c.key.in_(bindparam("keys", expanding=True)))


class SqlEmbeddingCache:
    def __init__(self, db: Database):
        self.db = db
        self._add = insert_for(db.dialect)(_CACHE).on_conflict_do_nothing(index_elements=["key"])

    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self.db.connection() as connection:
            for start in range(0, len(keys), _BATCH):
                rows = connection.execute(_FIND, {"keys": keys[start : start + _BATCH]})
                found.update((key, np.frombuffer(blob, dtype=np.float32)) for key, blob in rows)
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        if not items:
            return
        rows = [{"key": k, "vector": np.asarray(v, dtype=np.float32).tobytes()} for k, v in items.items()]
        with self.db.connection() as connection:
            connection.execute(self._add, rows)

    def delete_many(self, keys: list[str]) -> None:
        with self.db.connection() as connection:
            for start in range(0, len(keys), _BATCH):
                connection.execute(_FORGET, {"keys": keys[start : start + _BATCH]})
