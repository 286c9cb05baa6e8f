"""The search service: a query in, ranked chunks out, always scoped to one tenant."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from core.embedders import Embedder
from core.settings import Settings
from core.sparse import Bm25Encoder
from core.vectorstore import Fusion, SearchFilter, SearchMode, VectorStore
from ingest.chunking import check_strategy
from ingest.pipeline import check_name, store_name


@dataclass
class SearchHit:
    chunk_id: str
    document_id: str
    text: str
    score: float
    source: str
    title: str
    page: int | None
    start: int
    end: int

    def as_dict(self) -> dict:
        return asdict(self)


class SearchService:
    def __init__(self, settings: Settings, store: VectorStore, embedder: Embedder, sparse: Bm25Encoder | None = None):
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.sparse = sparse or Bm25Encoder()

    def search(
        self,
        query: str,
        *,
        tenant: str,
        collection: str,
        strategy: str | None = None,
        top_k: int = 10,
        mode: SearchMode = SearchMode.HYBRID,
        document_ids: tuple[str, ...] = (),
        sources: tuple[str, ...] = (),
    ) -> list[SearchHit]:
        if not query.strip():
            raise ValueError("the query is empty")
        check_name("collection", collection)
        strategy = check_strategy(strategy or self.settings.chunking.strategy)
        name = store_name(self.settings.qdrant.prefix, collection, strategy)
        dense = self.embedder.embed_query(query).tolist() if mode is not SearchMode.SPARSE else None
        sparse = self.sparse.encode_query(query) if mode is not SearchMode.DENSE else None
        if mode is SearchMode.SPARSE and not sparse[0]:
            return []
        flt = SearchFilter(tenant=tenant, document_ids=document_ids, sources=sources)
        found = self.store.search(
            name, flt=flt, limit=top_k * 3, mode=mode, dense=dense, sparse=sparse if sparse and sparse[0] else None,
            fusion=Fusion.RRF,
        )
        hits: list[SearchHit] = []
        seen: set[tuple[str, int, int]] = set()
        for chunk in found:
            p = chunk.payload
            # Hierarchical strategies retrieve the small chunk and return the parent span it belongs to.
            text, start, end = p["text"], p["start"], p["end"]
            if p.get("parent_text") is not None:
                text, start, end = p["parent_text"], p["parent_start"], p["parent_end"]
            key = (p["document_id"], start, end)
            if key in seen:
                continue
            seen.add(key)
            hits.append(
                SearchHit(
                    chunk_id=chunk.id, document_id=p["document_id"], text=text, score=chunk.score, source=p["source"],
                    title=p.get("title", ""), page=p.get("page"), start=start, end=end,
                )
            )
            if len(hits) == top_k:
                break
        return hits
