"""Picks the vector-store backend from settings (`Settings.vector_store`): a Qdrant URL or location means
qdrant-client, otherwise Edge."""

from __future__ import annotations

from core.registry import Registry
from core.settings import Settings, VectorStoreName
from core.vectorstore.base import VectorStore


def _edge(settings: Settings, breaker=None) -> VectorStore:
    if settings.qdrant.index_process:
        from core.vectorstore.process import ProcessVectorStore  # start-up cost: only the chosen backend is imported

        return ProcessVectorStore(settings.resolved_data_dir / "qdrant")
    from core.vectorstore.edge import EdgeVectorStore  # start-up cost, as above

    return EdgeVectorStore(settings.resolved_data_dir / "qdrant")


def _qdrant(settings: Settings, breaker=None) -> VectorStore:
    from core.vectorstore.server import ServerVectorStore  # start-up cost, as above

    api_key = settings.qdrant.api_key.get_secret_value() if settings.qdrant.api_key else None
    return ServerVectorStore.connect(settings.qdrant.url, settings.qdrant.location, api_key, settings.qdrant.timeout_s, breaker,
                                      settings.qdrant.path)


VECTOR_STORES: Registry[VectorStore] = Registry("vector store")
VECTOR_STORES.register(VectorStoreName.EDGE, _edge)
VECTOR_STORES.register(VectorStoreName.QDRANT, _qdrant)


def build_vector_store(settings: Settings, breaker=None) -> VectorStore:
    return VECTOR_STORES.build(settings.vector_store, settings, breaker)
