"""Picks the vector-store backend from settings: a Qdrant URL or location means qdrant-client, otherwise Edge."""

from __future__ import annotations

from core.settings import Settings
from core.vectorstore.base import VectorStore


def build_vector_store(settings: Settings, breaker=None) -> VectorStore:
    if settings.embedded_index:
        from core.vectorstore.edge import EdgeVectorStore

        return EdgeVectorStore(settings.resolved_data_dir / "qdrant")
    from core.vectorstore.server import ServerVectorStore

    api_key = settings.qdrant.api_key.get_secret_value() if settings.qdrant.api_key else None
    return ServerVectorStore.connect(settings.qdrant.url, settings.qdrant.location, api_key, settings.qdrant.timeout_s, breaker)
