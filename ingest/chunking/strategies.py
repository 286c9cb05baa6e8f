"""The chunking strategies, each built on a llama-index node parser."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from llama_index.core import Document
from llama_index.core.node_parser import (
    HierarchicalNodeParser,
    MarkdownNodeParser,
    SemanticSplitterNodeParser,
    SentenceSplitter,
    TokenTextSplitter,
    get_leaf_nodes,
)

from core.types import Chunk, Outline, ParsedDocument
from ingest.chunking.base import anchor, anchor_all, make_chunks


def _split(splitter, text: str) -> list[str]:
    return splitter.split_text(text) if text.strip() else []


class _SentenceSplitting:
    """Builds the llama-index sentence splitter once per chunker (building one costs more than splitting a page)."""

    chunk_size: int
    chunk_overlap: int

    @cached_property
    def sentences(self) -> SentenceSplitter:
        return SentenceSplitter(chunk_size=self.chunk_size, chunk_overlap=self.chunk_overlap)


@dataclass
class TokenChunker:
    """Fixed windows of `chunk_size` tokens with `chunk_overlap` tokens of overlap."""

    chunk_size: int
    chunk_overlap: int
    name: str = "token"

    @cached_property
    def splitter(self) -> TokenTextSplitter:
        return TokenTextSplitter(chunk_size=self.chunk_size, chunk_overlap=self.chunk_overlap)

    def chunk(self, document: ParsedDocument) -> list[Chunk]:
        return make_chunks(document, anchor_all(document.text, _split(self.splitter, document.text)))


@dataclass
class SentenceChunker(_SentenceSplitting):
    """Packs whole sentences (and paragraphs) into chunks of at most `chunk_size` tokens."""

    chunk_size: int
    chunk_overlap: int
    name: str = "sentence"

    def chunk(self, document: ParsedDocument) -> list[Chunk]:
        return make_chunks(document, anchor_all(document.text, _split(self.sentences, document.text)))


def _sections(document: ParsedDocument, starts: list[int]) -> list[tuple[int, int]]:
    bounds = sorted({0, *starts, len(document.text)})
    return [(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if document.text[a:b].strip()]


@dataclass
class StructureChunker(_SentenceSplitting):
    """Sections start at the parser's Title elements; a chunk never spans two sections, long sections are split
    by sentences."""

    chunk_size: int
    chunk_overlap: int
    name: str = "structure"

    def chunk(self, document: ParsedDocument) -> list[Chunk]:
        titles = [e.start for e in document.elements if e.type == "Title"]
        splitter = self.sentences
        spans: list[tuple[int, int]] = []
        for start, end in _sections(document, titles):
            section = document.text[start:end]
            spans.extend(anchor_all(section, _split(splitter, section), base=start))
        return make_chunks(document, spans)


@dataclass
class MarkdownChunker(_SentenceSplitting):
    """Splits at Markdown headers (llama-index MarkdownNodeParser), then by sentences inside long sections."""

    chunk_size: int
    chunk_overlap: int
    name: str = "markdown"

    def chunk(self, document: ParsedDocument) -> list[Chunk]:
        nodes = MarkdownNodeParser().get_nodes_from_documents([Document(text=document.text)])
        splitter = self.sentences
        spans: list[tuple[int, int]] = []
        headings: list[tuple[int, int | None, str]] = []  # (offset, depth, title)
        cursor = 0
        for node in nodes:
            found = anchor(document.text, node.get_content(), cursor)
            if found is None:
                continue
            start, end = found
            cursor = start + 1
            first_line = document.text[start:end].split("\n", 1)[0]
            marks = len(first_line) - len(first_line.lstrip("#"))
            if marks:  # every node but a preamble opens on its header line
                headings.append((start, marks - 1, first_line.lstrip("# ").strip()))
            section = document.text[start:end]
            spans.extend(anchor_all(section, _split(splitter, section), base=start))
        return make_chunks(document, spans, Outline.of_headings(headings))


@dataclass
class SemanticChunker(_SentenceSplitting):
    """Breaks where the embedding distance between neighbouring sentences jumps (llama-index
    SemanticSplitterNodeParser); pieces longer than `chunk_size` are split by sentences."""

    chunk_size: int
    chunk_overlap: int
    embed_model: object = None
    breakpoint_percentile: int = 95
    name: str = "semantic"

    @cached_property
    def breaks(self) -> SemanticSplitterNodeParser:
        return SemanticSplitterNodeParser(
            buffer_size=1, breakpoint_percentile_threshold=self.breakpoint_percentile, embed_model=self.embed_model
        )

    def chunk(self, document: ParsedDocument) -> list[Chunk]:
        pieces = [n.get_content() for n in self.breaks.get_nodes_from_documents([Document(text=document.text)])]
        splitter = self.sentences
        spans: list[tuple[int, int]] = []
        for start, end in anchor_all(document.text, pieces):
            section = document.text[start:end]
            spans.extend(anchor_all(section, _split(splitter, section), base=start))
        return make_chunks(document, spans)


@dataclass
class HierarchicalChunker:
    """Parent-child: small leaf chunks are indexed and retrieved; each carries the larger parent span it came from,
    which is what the answer is built from."""

    chunk_size: int
    chunk_overlap: int
    parent_factor: int = 4
    name: str = "hierarchical"

    @cached_property
    def levels(self) -> HierarchicalNodeParser:
        return HierarchicalNodeParser.from_defaults(
            chunk_sizes=[self.chunk_size * self.parent_factor, self.chunk_size], chunk_overlap=self.chunk_overlap
        )

    def chunk(self, document: ParsedDocument) -> list[Chunk]:
        nodes = self.levels.get_nodes_from_documents([Document(text=document.text)])
        by_id = {node.node_id: node for node in nodes}
        parents = [n for n in nodes if n.parent_node is None]
        parent_spans: dict[str, tuple[int, int]] = {}
        cursor_in_doc = 0
        for parent in parents:  # one by one: a parent that cannot be anchored must not shift the others
            found = anchor(document.text, parent.get_content(), cursor_in_doc)
            if found is not None:
                parent_spans[parent.node_id] = found
                cursor_in_doc = found[0] + 1
        chunks: list[Chunk] = []
        outline = Outline.of_document(document)
        leaves = get_leaf_nodes(nodes)
        cursor: dict[str, int] = {}
        for leaf in leaves:
            parent_id = leaf.parent_node.node_id if leaf.parent_node else None
            parent_span = parent_spans.get(parent_id) if parent_id in by_id else None
            if parent_span is None:
                continue
            p_start, p_end = parent_span
            parent_text = document.text[p_start:p_end]
            found = anchor(parent_text, leaf.get_content(), cursor.get(parent_id, 0))
            if found is None:
                continue
            cursor[parent_id] = found[0] + 1
            made = make_chunks(document, [(found[0] + p_start, found[1] + p_start)], outline)
            for chunk in made:
                chunk.parent_text, chunk.parent_start, chunk.parent_end = parent_text, p_start, p_end
                chunk.sections = outline.within(p_start, p_end)  # a search returns the parent
            chunks.extend(made)
        return chunks
