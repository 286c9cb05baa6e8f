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


@pytest.mark.parametrize("strategy", ["sentence", "token", "structure", "hierarchical"])
def test_chunks_carry_the_heading_paths_over_the_text_a_search_returns(strategy):
    """A heading closes those at its level and deeper; a title whose level is unknown (a PDF's) sits below the known
    ones. Each chunk carries the path at its start and every heading inside what a search returns for it (a
    hierarchical chunk: its parent), so each sentence can be read under its own headings."""
    parts = ["Tower Building", "The tower was built in 1840 by the army. " * 4, "History", "It was an arsenal. " * 6,
             "Later use", "It became a museum of art. " * 5, "Note", "Opening hours vary by season. " * 3,
             "Another Article", "Unrelated text about a river. " * 4]
    text = "\n\n".join(parts)
    depths = {"Tower Building": 0, "History": 1, "Later use": 2, "Note": None, "Another Article": 0}
    elements = [ElementSpan(text.index(t), text.index(t) + len(t), "Title", depth=d) for t, d in depths.items()]
    doc = ParsedDocument(text=text, elements=elements, title="t", mime_type="text/plain")
    paths = {"Tower Building": "Tower Building", "History": "Tower Building > History",
             "Later use": "Tower Building > History > Later use", "Note": "Tower Building > History > Later use > Note",
             "Another Article": "Another Article"}
    chunks = build_chunker(strategy, 32, 0).chunk(doc)
    assert len(chunks) > 3
    for chunk in chunks:
        start, end = (chunk.parent_start, chunk.parent_end) if chunk.parent_text else (chunk.start, chunk.end)
        expected = [(text.index(t), p) for t, p in paths.items() if start < text.index(t) < end]
        before = [(text.index(t), p) for t, p in paths.items() if text.index(t) <= start]
        if before:
            expected.insert(0, (start, before[-1][1]))
        assert list(chunk.sections) == expected
        at_start = [p for t, p in paths.items() if text.index(t) <= chunk.start]
        assert chunk.section == (at_start[-1] if at_start else None)
    assert chunks[-1].sections[-1][1] == "Another Article"


def test_unknown_strategy_is_a_clear_error():
    with pytest.raises(UnknownStrategy, match="choose one of"):
        build_chunker("magic", 256, 32)
