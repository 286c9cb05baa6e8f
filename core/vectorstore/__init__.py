"""The vector-store adapter: one protocol, two Qdrant implementations (Edge in-process, qdrant-client for servers)."""

from core.vectorstore.base import (
    DENSE,
    SPARSE,
    DocumentFilter,
    Fusion,
    SearchFilter,
    SearchMode,
    StoreLocked,
    StoreUnavailable,
    VectorStore,
)
from core.vectorstore.factory import build_vector_store

__all__ = [
    "DENSE",
    "SPARSE",
    "DocumentFilter",
    "Fusion",
    "SearchFilter",
    "SearchMode",
    "StoreLocked",
    "StoreUnavailable",
    "VectorStore",
    "build_vector_store",
]
