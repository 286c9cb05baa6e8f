"""Qdrant server backend through qdrant-client (also its `:memory:` local mode, which runs the same request code)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pybreaker
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from core.breakers import make_breaker
from core.types import ChunkRecord, ScoredChunk
from core.vectorstore.base import (
    DENSE,
    LIVE,
    RRF_K,
    SPARSE,
    STAGED,
    STATE,
    TEXT_BATCH,
    Fusion,
    SearchFilter,
    SearchMode,
    StoreUnavailable,
    scored,
    with_rrf_scores,
)
from core.vectorstore.filters import (
    Conditions,
    document_filter,
    one_version,
    other_versions,
    search_filter,
    texts_elsewhere,
    visible_filter,
)

# qdrant-client's spelling of the conditions in core.vectorstore.filters.
SERVER = Conditions(
    match=lambda key, value: models.FieldCondition(key=key, match=models.MatchValue(value=value)),
    match_any=lambda key, values: models.FieldCondition(key=key, match=models.MatchAny(any=values)),
    within=lambda key, gte, lte: models.FieldCondition(key=key, range=models.Range(gte=gte, lte=lte)),
    combine=lambda must, must_not: models.Filter(must=must, must_not=must_not),
)



def _is_missing_collection(exc: Exception) -> bool:
    """A query of a collection that does not exist: a 404 from the server, a ValueError from the local mode."""
    if isinstance(exc, UnexpectedResponse):
        return exc.status_code == 404
    return str(exc).startswith("Collection ") and str(exc).endswith(" not found")


class ServerVectorStore:
    def __init__(self, client: QdrantClient, breaker: pybreaker.CircuitBreaker | None = None):
        self._client = client
        self._breaker = breaker or make_breaker("vector_store", counts=lambda exc: isinstance(exc, StoreUnavailable))
        # Collections seen to exist: a search of one is a single round trip (no existence check before it).
        self._known: set[str] = set()

    @classmethod
    def connect(cls, url: str | None, location: str | None, api_key: str | None, timeout_s: float,
                breaker: pybreaker.CircuitBreaker | None = None, path: Path | None = None) -> ServerVectorStore:
        if location:
            return cls(QdrantClient(location=location), breaker)
        if path is not None:  # local mode on disk: one process owns the folder
            return cls(QdrantClient(path=str(path)), breaker)
        # No version handshake at start-up: it would stall start-up (and warn) whenever Qdrant is down.
        return cls(QdrantClient(url=url, api_key=api_key, timeout=int(max(1, timeout_s)), check_compatibility=False), breaker)

    def _call(self, fn, *args, **kwargs):
        try:
            return self._breaker.call(self._attempt, fn, *args, **kwargs)
        except pybreaker.CircuitBreakerError as exc:
            raise StoreUnavailable(f"Qdrant is unreachable (failed repeatedly; retried after a pause): {exc}") from exc

    @staticmethod
    def _attempt(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ResponseHandlingException, ConnectionError, TimeoutError) as exc:
            raise StoreUnavailable(f"Qdrant is unreachable: {exc}") from exc
        except UnexpectedResponse as exc:
            if exc.status_code is not None and exc.status_code >= 500:
                raise StoreUnavailable(f"Qdrant answered {exc.status_code}") from exc
            raise

    @property
    def breaker(self) -> pybreaker.CircuitBreaker:
        return self._breaker

    def collection_exists(self, name: str) -> bool:
        exists = bool(self._call(self._client.collection_exists, name))
        (self._known.add if exists else self._known.discard)(name)
        return exists

    def ensure_collection(self, name: str, dim: int) -> None:
        if self.collection_exists(name):
            return
        self._call(
            self._client.create_collection,
            name,
            vectors_config={DENSE: models.VectorParams(size=dim, distance=models.Distance.COSINE)},
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
        )
        tenant_index = models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True)
        self._call(self._client.create_payload_index, name, "tenant", field_schema=tenant_index)
        for key, schema in (
            ("document_id", models.PayloadSchemaType.KEYWORD),
            ("source", models.PayloadSchemaType.KEYWORD),
            (STATE, models.PayloadSchemaType.KEYWORD),
        ):
            self._call(self._client.create_payload_index, name, key, field_schema=schema)
        self._known.add(name)

    def drop_collection(self, name: str) -> None:
        self._known.discard(name)
        self._call(self._client.delete_collection, name)

    def replace_document(
        self, name: str, document_id: str, version: int, records: list[ChunkRecord], on_staged: Callable[[], None] | None = None
    ) -> None:
        points = [
            models.PointStruct(
                id=r.id,
                vector={
                    DENSE: r.dense,
                    SPARSE: models.SparseVector(indices=r.sparse_indices, values=r.sparse_values),
                },
                payload={**r.payload.as_dict(), STATE: STAGED},
            )
            for r in records
        ]
        for start in range(0, len(points), 256):
            self._call(self._client.upsert, name, points=points[start : start + 256], wait=True)
        if on_staged is not None:
            on_staged()
        # One request, applied in order: older versions leave, then the new one becomes visible.
        self._call(
            self._client.batch_update_points,
            name,
            update_operations=[
                models.DeleteOperation(
                    delete=models.FilterSelector(filter=other_versions(document_id, version, SERVER))
                ),
                models.SetPayloadOperation(
                    set_payload=models.SetPayload(
                        payload={STATE: LIVE},
                        filter=one_version(document_id, version, SERVER),
                    )
                ),
            ],
            wait=True,
        )

    def delete_document(self, name: str, document_id: str) -> None:
        if not self.collection_exists(name):
            return
        self._call(
            self._client.delete, name, points_selector=models.FilterSelector(filter=document_filter(document_id, SERVER)), wait=True
        )

    def count(self, name: str, document_id: str | None = None) -> int:
        if not self.collection_exists(name):
            return 0
        return self._call(self._client.count, name, count_filter=visible_filter(document_id, SERVER), exact=True).count

    def chunks(self, name: str, document_id: str) -> list[ScoredChunk]:
        if not self.collection_exists(name):
            return []
        found: list[ScoredChunk] = []
        offset = None
        while True:
            records, offset = self._call(
                self._client.scroll,
                name,
                scroll_filter=document_filter(document_id, SERVER),
                limit=512,
                offset=offset,
                with_payload=True,
            )
            found.extend(scored(r) for r in records)
            if offset is None:
                return found

    def texts_in_use(self, name: str, texts: list[str], exclude_document_id: str) -> set[str]:
        if not self.collection_exists(name):
            return set()
        used: set[str] = set()
        for start in range(0, len(texts), TEXT_BATCH):
            flt = texts_elsewhere(texts[start : start + TEXT_BATCH], exclude_document_id, SERVER)
            offset = None
            while True:
                records, offset = self._call(
                    self._client.scroll, name, scroll_filter=flt, limit=512, offset=offset, with_payload=["text"]
                )
                used.update(r.payload["text"] for r in records)
                if offset is None:
                    break
        return used

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
        if name not in self._known and not self.collection_exists(name):
            return []
        server_filter = search_filter(flt, SERVER)
        # Hybrid hits carry their RRF score: from the RRF query, in the same round trip as the DBSF one when both are
        # wanted.
        with_rrf = mode is SearchMode.HYBRID and (fusion is Fusion.RRF or rrf_scores)
        sparse_vector = models.SparseVector(indices=sparse[0], values=sparse[1]) if sparse else None
        if mode is SearchMode.DENSE:
            requests = [models.QueryRequest(query=dense, using=DENSE, filter=server_filter, limit=limit, with_payload=True)]
        elif mode is SearchMode.SPARSE:
            requests = [models.QueryRequest(query=sparse_vector, using=SPARSE, filter=server_filter, limit=limit,
                                            with_payload=True)]
        else:
            prefetch = [
                models.Prefetch(query=q, using=using, limit=prefetch_limit, filter=server_filter)
                for q, using in ((dense, DENSE), (sparse_vector, SPARSE))
                if q is not None
            ]
            requests = []
            if fusion is Fusion.DBSF:
                requests.append(models.QueryRequest(prefetch=prefetch, query=models.FusionQuery(fusion=models.Fusion.DBSF),
                                                    filter=server_filter, limit=limit, with_payload=True))
            if with_rrf:
                requests.append(models.QueryRequest(prefetch=prefetch, query=models.RrfQuery(rrf=models.Rrf(k=RRF_K)),
                                                    filter=server_filter, limit=limit, with_payload=fusion is Fusion.RRF))
        try:
            responses = self._call(self._client.query_batch_points, name, requests=requests)
        except (UnexpectedResponse, ValueError) as exc:
            if not _is_missing_collection(exc):
                raise
            self._known.discard(name)  # dropped by another process since it was seen
            return []
        found = [scored(p) for p in responses[0].points]
        return with_rrf_scores(found, responses[-1].points) if with_rrf else found

    def optimize(self, name: str) -> None:
        """The server optimizes on its own schedule."""

    def close(self) -> None:
        self._client.close()
