"""The chunker contract, run against every strategy in the registry, on real documents."""

from __future__ import annotations

import pytest

from core.types import ElementSpan, ParsedDocument
from ingest.chunking import STRATEGIES, build_chunker
from ingest.chunking.registry import UnknownStrategy
from tests.conftest import DOCS, SHARED_DATA


@pytest.fixture(scope="module")
def speech() -> ParsedDocument:
    text = (SHARED_DATA / "chunking" / "corpora" / "state_of_the_union.md").read_text()[:12000]
    return ParsedDocument(text=text, elements=[], title="speech", mime_type="text/markdown")


@pytest.fixture(scope="module")
def pdf(parser) -> ParsedDocument:
    return parser.parse(DOCS / "multi-column-2p.pdf", "multi-column-2p.pdf")


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
class TestChunkerContract:
    def chunk(self, strategy, document, bge):
        return build_chunker(strategy, chunk_size=128, chunk_overlap=16, embedder=bge).chunk(document)

    def test_chunks_are_exact_spans_in_order(self, strategy, speech, bge):
        chunks = self.chunk(strategy, speech, bge)
        assert len(chunks) > 3
        for chunk in chunks:
            assert chunk.text == speech.text[chunk.start : chunk.end]
            assert chunk.text.strip()
        starts = [c.start for c in chunks]
        assert starts == sorted(starts)

    def test_chunks_cover_the_text(self, strategy, speech, bge):
        chunks = self.chunk(strategy, speech, bge)
        covered = set()
        for chunk in chunks:
            covered.update(range(chunk.start, chunk.end))
        words = [i for i, ch in enumerate(speech.text) if not ch.isspace()]
        assert len(covered.intersection(words)) / len(words) > 0.97

    def test_pages_and_element_types_come_from_the_parser(self, strategy, pdf, bge):
        chunks = self.chunk(strategy, pdf, bge)
        assert {c.page for c in chunks} == {1, 2}
        assert all(c.element_types for c in chunks)


def test_hierarchical_children_sit_inside_their_parent(speech):
    chunks = build_chunker("hierarchical", 64, 8).chunk(speech)
    assert chunks
    for chunk in chunks:
        assert chunk.parent_start <= chunk.start < chunk.end <= chunk.parent_end
        assert chunk.parent_text == speech.text[chunk.parent_start : chunk.parent_end]
        assert len(chunk.parent_text) > len(chunk.text)


def test_structure_chunks_never_cross_a_title():
    text = "Intro\n\nFirst part body. " * 3 + "\n\nSecond\n\nSecond part body. " * 3
    second = text.index("Second")
    elements = [ElementSpan(0, 5, "Title"), ElementSpan(second, second + 6, "Title")]
    doc = ParsedDocument(text=text, elements=elements, title="t", mime_type="text/plain")
    chunks = build_chunker("structure", 256, 0).chunk(doc)
    assert all(c.end <= second or c.start >= second for c in chunks)
    assert chunks[-1].section == "Second"


def test_markdown_chunks_follow_headers():
    text = "# Alpha\n\nalpha text here.\n\n# Beta\n\nbeta text here.\n"
    doc = ParsedDocument(text=text, elements=[], title="t", mime_type="text/markdown")
    chunks = build_chunker("markdown", 256, 0).chunk(doc)
    assert [c.section for c in chunks] == ["Alpha", "Beta"]
    assert "beta" not in chunks[0].text


def test_unknown_strategy_is_a_clear_error():
    with pytest.raises(UnknownStrategy, match="choose one of"):
        build_chunker("magic", 256, 32)
