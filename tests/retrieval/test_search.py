"""Hybrid search over a real index: the gold span of a benchmark question ranks near the top, per tenant."""

from __future__ import annotations

import pytest

from core.vectorstore import SearchMode
from ingest.pipeline import IngestTarget
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
        "How much did the administration cut credit card late fees?", tenant="acme", collection="speeches", top_k=3, mode=mode
    )
    assert any(h.start <= GOLD[0] and GOLD[1] <= h.end for h in hits), [(h.start, h.end) for h in hits]
    text = runtime.catalog.text(hits[0].document_id, 1)
    assert all(text[h.start : h.end] == h.text for h in hits)


def test_other_tenants_and_filters_see_nothing(indexed):
    runtime, document_id = indexed
    assert runtime.search.search("credit card late fees", tenant="globex", collection="speeches") == []
    only = runtime.search.search("credit card late fees", tenant="acme", collection="speeches", document_ids=(document_id,))
    assert only and {h.document_id for h in only} == {document_id}
    assert runtime.search.search("credit card", tenant="acme", collection="speeches", document_ids=("other",)) == []


def test_hierarchical_search_returns_parent_spans(runtime):
    target = IngestTarget("acme", "speeches", "hierarchical")
    runtime.ingest.ingest(SPEECH, display=SPEECH.name, source=str(SPEECH), target=target)
    hits = runtime.search.search("credit card late fees", tenant="acme", collection="speeches", strategy="hierarchical", top_k=2)
    assert hits and all(h.end - h.start > 1000 for h in hits)  # parents (4x the leaf size), not leaves


def test_bad_queries_are_clear_errors(runtime):
    with pytest.raises(ValueError, match="empty"):
        runtime.search.search("  ", tenant="acme", collection="speeches")
    with pytest.raises(ValueError, match="unknown chunking strategy"):
        runtime.search.search("x", tenant="acme", collection="speeches", strategy="magic")
