"""The vector-store contract every backend implements, and the filter and search types it takes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Protocol

from pydantic import BeforeValidator, ConfigDict, WithJsonSchema

from core.types import ChunkPayload, ChunkRecord, ScoredChunk, TransientError, timestamp_of

DENSE = "dense"
SPARSE = "bm25"
# Points of a version being written carry `state: "staged"` until the version is committed ("live"); every read
# excludes staged points, so readers never see a half-written document. (A keyword, not a bool: Qdrant Edge's
# Python binding does not match bool payload values.)
STATE = "state"
STAGED = "staged"
LIVE = "live"
TEXT_BATCH = 64  # chunk texts matched per query by texts_in_use
RRF_K = 60  # reciprocal rank fusion: 1 / (RRF_K + rank) summed over the dense and the keyword ranking


class SearchMode(StrEnum):
    DENSE = "dense"
    SPARSE = "sparse"
    HYBRID = "hybrid"


class Fusion(StrEnum):
    RRF = "rrf"
    DBSF = "dbsf"


def _moment(value: object) -> object:
    """A date bound as given by a request (ISO 8601) or by code (epoch seconds)."""
    return timestamp_of(value) if isinstance(value, str) else value


# Requests give an ISO 8601 date or datetime (UTC when no zone is given); it is kept as epoch seconds.
DateBound = Annotated[
    float | None, BeforeValidator(_moment),
    WithJsonSchema({"anyOf": [{"type": "string", "description": "ISO 8601, e.g. 2024-03-01"}, {"type": "null"}]}),
]


@dataclass(frozen=True)
class DocumentFilter:
    """Which documents a query may read: the one filter type, from a request's `filters` (it is the request
    schema's type) through search to both stores. Empty fields do not filter."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # a misspelt filter key is refused, not ignored

    document_ids: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    exclude_document_ids: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()  # documents with any of them
    date_from: DateBound = None  # the document's date, inclusive bounds
    date_to: DateBound = None


@dataclass(frozen=True)
class SearchFilter:
    """What a query may see. The tenant is not optional: every read is scoped to one."""

    tenant: str
    where: DocumentFilter = DocumentFilter()


class StoreUnavailable(TransientError):
    """The vector store cannot be reached or answered with an error that may pass."""


class StoreLocked(RuntimeError):
    """An embedded (Edge) store is open in another process; only one process may own it."""


class VectorStore(Protocol):
    """Stores chunk vectors per collection. Collections are created on first write with the embedder's size.

    Writes are per document: `replace_document` makes a new version of a document visible and removes every older
    version in one step that readers observe atomically (Edge) or as "old gone, then new visible" (server). The new
    version's points are written staged (invisible) first; `on_staged` is called once they all are, before that step.
    """

    def ensure_collection(self, name: str, dim: int) -> None: ...

    def collection_exists(self, name: str) -> bool: ...

    def drop_collection(self, name: str) -> None: ...

    def replace_document(
        self, name: str, document_id: str, version: int, records: list[ChunkRecord], on_staged: Callable[[], None] | None = None
    ) -> None: ...

    def delete_document(self, name: str, document_id: str) -> None: ...

    def count(self, name: str, document_id: str | None = None) -> int: ...

    def chunks(self, name: str, document_id: str) -> list[ScoredChunk]: ...

    def texts_in_use(self, name: str, texts: list[str], exclude_document_id: str) -> set[str]:
        """Which of these chunk texts a chunk of another document holds (staged or live): their cached embeddings
        are still in use."""
        ...

    def search(
        self,
        name: str,
        *,
        flt: SearchFilter,
        limit: int,
        mode: SearchMode,
        dense: list[float] | None = None,
        sparse: tuple[list[int], list[float]] | None = None,
        fusion: Fusion = Fusion.RRF,
        prefetch_limit: int = 100,
        rrf_scores: bool = False,
    ) -> list[ScoredChunk]:
        """The best chunks for the query. In hybrid search each carries its RRF score (`rrf_score`): free when RRF
        ranks them; under DBSF only when asked (`rrf_scores`), since it runs the prefetches a second time."""
        ...

    def optimize(self, name: str) -> None: ...

    def close(self) -> None: ...


def with_rrf_scores(chunks: list[ScoredChunk], rrf_points) -> list[ScoredChunk]:
    """Hybrid results with each one's score in the RRF results of the same query (`rrf_points`; 0 for a chunk RRF did
    not rank that high)."""
    scores = {str(p.id): float(p.score) for p in rrf_points}
    for chunk in chunks:
        chunk.rrf_score = scores.get(chunk.id, 0.0)
    return chunks


def scored(point) -> ScoredChunk:
    """A point as either backend returns it (id, score when searched, stored payload)."""
    score = float(getattr(point, "score", 0.0) or 0.0)
    return ScoredChunk(id=str(point.id), score=score, payload=ChunkPayload.from_dict(point.payload or {}))
