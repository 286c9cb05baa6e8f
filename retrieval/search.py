"""The search service: a query in, ranked chunks out, always scoped to one tenant.

Dense and sparse (BM25) candidates are fused in the vector store (RRF or DBSF), then a cross-encoder reranks the
first `rerank_depth` of them. Hierarchical strategies retrieve small chunks and return the parent span."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from opentelemetry import trace
from opentelemetry.trace import Tracer

from core.embedders import Embedder
from core.settings import Settings
from core.sparse import Bm25Encoder
from core.tracing import GEN_AI_DATA_SOURCE, GEN_AI_MODEL, GEN_AI_OPERATION, stage
from core.types import Outline
from core.vectorstore import DocumentFilter, Fusion, SearchFilter, SearchMode, VectorStore
from ingest.chunking import PARENT_STRATEGIES, check_strategy
from ingest.pipeline import check_name, store_name
from retrieval.rerank import Reranker, sigmoid


TIE_ROOM = 4  # hits fetched beyond those returned (fused scores tie in pairs: RRF's ranks (1, 2) and (2, 1))


@dataclass
class SearchHit:
    chunk_id: str
    document_id: str
    text: str  # == the document's extracted text[start:end]
    score: float  # the cross-encoder's relevance in [0, 1] when reranked, else the fusion score
    source: str
    title: str
    page: int | None
    start: int
    end: int
    version: int = 1
    retrieval_score: float = 0.0  # the fusion (or single-mode) score that ranked the candidate first
    # Hybrid search: its reciprocal-rank-fusion score whatever fusion ranked it (how far the dense and the keyword
    # search agree on it; the answer's confidence reads it).
    rrf_score: float | None = None
    rerank_logit: float | None = None
    ocr: bool = False  # the passage's text was read by OCR (a scan or an image): it may hold misread words
    # The heading paths over the passage: (document offset, "Title > Section"), each in force up to the next.
    sections: tuple[tuple[int, str], ...] = ()

    def as_dict(self) -> dict:
        return asdict(self)

    def section_at(self, offset: int) -> str | None:
        """The heading path over text[offset] (an offset into this passage's text), if the document has headings."""
        return Outline(self.sections).at(self.start + offset)


@dataclass
class Retrieved:
    hits: list[SearchHit]
    timings_ms: dict[str, float] = field(default_factory=dict)
    reranked: bool = False


@dataclass(frozen=True)
class Query:
    text: str
    tenant: str
    collection: str
    strategy: str | None = None
    top_k: int | None = None
    mode: SearchMode = SearchMode.HYBRID
    rerank: bool | None = None  # None: the settings decide
    where: DocumentFilter = DocumentFilter()  # which documents it may read (within the tenant)
    # Each hybrid hit's RRF score too, whatever the fusion (the answer's confidence reads it; under DBSF it costs
    # the store's prefetches a second time).
    rrf_scores: bool = False


class SearchService:
    def __init__(
        self,
        settings: Settings,
        store: VectorStore,
        embedder: Embedder,
        reranker: Reranker | None = None,
        sparse: Bm25Encoder | None = None,
        tracer: Tracer | None = None,
    ):
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.reranker = reranker
        self.sparse = sparse or Bm25Encoder()
        self.tracer = tracer or trace.NoOpTracer()

    def search(self, query: str, *, tenant: str, collection: str, **options) -> list[SearchHit]:
        return self.retrieve(Query(query, tenant, collection, **options)).hits

    def retrieve(self, q: Query) -> Retrieved:
        if not q.text.strip():
            raise ValueError("the query is empty")
        check_name("collection", q.collection)
        strategy = check_strategy(q.strategy or self.settings.chunking.strategy)
        top_k = q.top_k or self.settings.retrieval.top_k
        rerank = (self.settings.retrieval.rerank if q.rerank is None else q.rerank) and self.reranker is not None
        depth = self.settings.retrieval.rerank_depth
        timings: dict[str, float] = {}

        model = getattr(self.embedder, "model_id", None)
        with stage(self.tracer, timings, "embed", f"embeddings {model}", **{GEN_AI_OPERATION: "embeddings", GEN_AI_MODEL: model}):
            dense = self.embedder.embed_query(q.text).tolist() if q.mode is not SearchMode.SPARSE else None
            sparse = self.sparse.encode_query(q.text) if q.mode is not SearchMode.DENSE else None
        if q.mode is SearchMode.SPARSE and not sparse[0]:
            return Retrieved([], timings)

        flt = SearchFilter(q.tenant, q.where)
        wanted = max(top_k, depth) if rerank else top_k
        # Chunks that stand for a parent span collapse, so more are asked for; other chunks are distinct spans, and
        # a few beyond `wanted` keep score ties at the cut ordered by chunk id (every payload fetched costs).
        fetch = wanted * 3 if strategy in PARENT_STRATEGIES else wanted + TIE_ROOM
        with stage(self.tracer, timings, "retrieve", f"retrieval {q.collection}",
                   **{GEN_AI_OPERATION: "retrieval", GEN_AI_DATA_SOURCE: q.collection, "cairn.mode": q.mode.value}) as span:
            found = self.store.search(
                store_name(self.settings.qdrant.prefix, q.collection, strategy), flt=flt, limit=fetch, mode=q.mode,
                dense=dense, sparse=sparse if sparse and sparse[0] else None, fusion=Fusion(self.settings.retrieval.fusion),
                rrf_scores=q.rrf_scores,
            )
            hits = _distinct_spans(found, wanted)
            span.set_attribute("cairn.hits", len(hits))

        if rerank and hits:
            # The cross-encoder reorders the first `depth` candidates; any further ones keep their fused order after.
            with stage(self.tracer, timings, "rerank", f"rerank {self.reranker.model_id}", **{GEN_AI_MODEL: self.reranker.model_id}):
                head, tail = hits[:depth], hits[depth:]
                logits = self.reranker.score(q.text, [h.text for h in head])
                for hit, logit, prob in zip(head, logits, sigmoid(logits), strict=True):
                    hit.rerank_logit, hit.score = float(logit), float(prob)
                head.sort(key=lambda h: h.rerank_logit, reverse=True)
                hits = head + tail
        return Retrieved(hits[:top_k], timings, reranked=rerank)


def _distinct_spans(found, limit: int) -> list[SearchHit]:
    """One hit per distinct span (hierarchical children of one parent collapse into the parent)."""
    hits: list[SearchHit] = []
    seen: set[tuple[str, int, int]] = set()
    # Fused scores tie (RRF gives ranks (1, 2) and (2, 1) the same score) and the store orders ties as it likes: the
    # chunk id breaks them, so the same question always reads the same passages.
    for chunk in sorted(found, key=lambda c: (-c.score, str(c.id))):
        p = chunk.payload
        text, start, end = p.text, p.start, p.end
        if p.parent_text is not None:
            text, start, end = p.parent_text, p.parent_start, p.parent_end
        key = (p.document_id, start, end)
        if key in seen:
            continue
        seen.add(key)
        hits.append(
            SearchHit(
                chunk_id=chunk.id, document_id=p.document_id, text=text, score=chunk.score, source=p.source,
                title=p.title, page=p.page, start=start, end=end, version=p.version, retrieval_score=chunk.score,
                rrf_score=chunk.rrf_score, ocr=p.ocr, sections=p.sections,
            )
        )
        if len(hits) == limit:
            break
    return hits
