"""Hybrid search over a real index: the gold span of a benchmark question ranks near the top, per tenant."""

from __future__ import annotations

import pytest

from core.types import ChunkPayload, ScoredChunk
from core.vectorstore import DocumentFilter, SearchMode
from ingest.pipeline import IngestTarget
from retrieval.search import TIE_ROOM, Query, SearchService, _distinct_spans
from tests.conftest import SHARED_DATA

SPEECH = SHARED_DATA / "chunking" / "corpora" / "state_of_the_union.md"
# From ../shared/data/chunking/questions.csv: the gold span of the answer in the speech.
GOLD = (27346, 27425)  # "My administration announced we're cutting credit card late fees from $32 to $8."


@pytest.fixture
def indexed(runtime):
    target = IngestTarget("acme", "speeches", "sentence")
    outcome = runtime.ingest.ingest(SPEECH, display=SPEECH.name, source=str(SPEECH), target=target)
    assert outcome.status.value == "indexed"
    return runtime, outcome.document_id


@pytest.mark.parametrize("mode", list(SearchMode))
def test_gold_span_is_in_the_top_results(indexed, mode):
    runtime, _ = indexed
    hits = runtime.search.search(
        "How much did the administration cut credit card late fees?", tenant="acme", collection="speeches", top_k=5, mode=mode
    )
    assert any(h.start <= GOLD[0] and GOLD[1] <= h.end for h in hits), [(h.start, h.end) for h in hits]
    text = runtime.catalog.text(hits[0].document_id, 1)
    assert all(text[h.start : h.end] == h.text for h in hits)


def test_other_tenants_and_filters_see_nothing(indexed):
    runtime, document_id = indexed
    assert runtime.search.search("credit card late fees", tenant="globex", collection="speeches") == []
    only = runtime.search.search("credit card late fees", tenant="acme", collection="speeches", where=DocumentFilter(document_ids=(document_id,)))
    assert only and {h.document_id for h in only} == {document_id}
    assert runtime.search.search("credit card", tenant="acme", collection="speeches", where=DocumentFilter(document_ids=("other",))) == []


def test_hierarchical_search_returns_parent_spans(runtime):
    target = IngestTarget("acme", "speeches", "hierarchical")
    runtime.ingest.ingest(SPEECH, display=SPEECH.name, source=str(SPEECH), target=target)
    hits = runtime.search.search("credit card late fees", tenant="acme", collection="speeches", strategy="hierarchical", top_k=2)
    assert hits and all(h.end - h.start > 1000 for h in hits)  # parents (4x the leaf size), not leaves


def test_each_search_fetches_only_a_few_chunks_beyond_those_it_returns_unless_chunks_collapse_into_parents(runtime):
    """Every chunk fetched carries its payload out of the store: a flat strategy asks for the hits it returns and a
    few for ties, the hierarchical strategy three times as many (several leaves collapse into one parent)."""
    for strategy in ("sentence", "hierarchical"):
        runtime.ingest.ingest(SPEECH, display=SPEECH.name, source=str(SPEECH), target=IngestTarget("acme", "speeches", strategy))
    asked: list[int] = []

    class RecordingStore:  # the real store, with the limit of each search written down
        def __getattr__(self, name):
            return getattr(runtime.store, name)

        def search(self, name, **options):
            asked.append(options["limit"])
            return runtime.store.search(name, **options)

    service = SearchService(runtime.settings, RecordingStore(), runtime.embedder)
    flat = service.search("credit card late fees", tenant="acme", collection="speeches", strategy="sentence", top_k=5)
    parents = service.search("credit card late fees", tenant="acme", collection="speeches", strategy="hierarchical", top_k=5)
    assert asked == [5 + TIE_ROOM, 15]
    assert len(flat) == 5 and len(parents) == 5
    assert len({(h.start, h.end) for h in parents}) == 5  # five distinct parents out of the leaves found


def test_bad_queries_are_clear_errors(runtime):
    with pytest.raises(ValueError, match="empty"):
        runtime.search.search("  ", tenant="acme", collection="speeches")
    with pytest.raises(ValueError, match="unknown chunking strategy"):
        runtime.search.search("x", tenant="acme", collection="speeches", strategy="magic")


def test_reranking_orders_candidates_by_the_cross_encoder(indexed):
    runtime, _ = indexed
    query = Query("How much did the administration cut credit card late fees?", "acme", "speeches", top_k=3, rerank=True)
    retrieved = runtime.search.retrieve(query)
    logits = [h.rerank_logit for h in retrieved.hits]
    assert retrieved.reranked and logits == sorted(logits, reverse=True) and len(logits) == 3
    assert all(0.0 <= h.score <= 1.0 for h in retrieved.hits) and set(retrieved.timings_ms) == {"embed", "retrieve", "rerank"}
    top = retrieved.hits[0]
    assert top.start <= GOLD[0] and GOLD[1] <= top.end
    plain = runtime.search.retrieve(Query(query.text, "acme", "speeches", top_k=3, rerank=False))
    assert not plain.reranked and all(h.rerank_logit is None for h in plain.hits) and "rerank" not in plain.timings_ms


def test_excluded_documents_are_never_returned(indexed):
    runtime, document_id = indexed
    assert runtime.search.search("credit card late fees", tenant="acme", collection="speeches", where=DocumentFilter(exclude_document_ids=(document_id,))) == []


def test_cross_encoder_contract():
    """Every reranker: one score per passage, in order, higher for the passage that answers."""
    from retrieval.rerank import OnnxCrossEncoder

    reranker = OnnxCrossEncoder()
    passages = ["The weather in Paris is mild in spring.", "Berlin has 3.7 million inhabitants.", ""]
    scores = reranker.score("How many people live in Berlin?", passages)
    assert scores.shape == (3,) and scores[1] > scores[0] and scores[1] > 0
    assert reranker.score("anything", []).shape == (0,)


def test_tied_scores_are_read_in_one_order_whatever_order_the_store_gives():
    # RRF gives ranks (1, 2) and (2, 1) the same score; the store may return such ties either way round.
    def chunk(cid: str, score: float, start: int) -> ScoredChunk:
        return ScoredChunk(cid, score, ChunkPayload(tenant="t", document_id=f"doc-{cid}", text="t", source="s", start=start,
                                                    end=start + 1))

    found = [chunk("b", 0.0328, 0), chunk("a", 0.0328, 5), chunk("c", 0.05, 9)]
    for order in (found, found[::-1], [found[1], found[2], found[0]]):
        assert [h.chunk_id for h in _distinct_spans(order, 3)] == ["c", "a", "b"]
