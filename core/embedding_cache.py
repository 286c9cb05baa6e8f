"""Embedding cache in the SQL store: vectors keyed by sha256(model id, text)."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from core.db import Database, EmbeddingCacheRow


class SqlEmbeddingCache:
    def __init__(self, db: Database):
        self.db = db

    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self.db.session() as s:
            for start in range(0, len(keys), 500):
                rows = s.execute(
                    select(EmbeddingCacheRow.key, EmbeddingCacheRow.vector).where(
                        EmbeddingCacheRow.key.in_(keys[start : start + 500])
                    )
                )
                found.update((key, np.frombuffer(blob, dtype=np.float32)) for key, blob in rows)
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        if not items:
            return
        insert = pg_insert if self.db.engine.dialect.name == "postgresql" else sqlite_insert
        rows = [{"key": k, "vector": np.asarray(v, dtype=np.float32).tobytes()} for k, v in items.items()]
        with self.db.session() as s:
            s.execute(insert(EmbeddingCacheRow).values(rows).on_conflict_do_nothing(index_elements=["key"]))
