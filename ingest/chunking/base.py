"""The chunker contract and the offset bookkeeping every strategy shares."""

from __future__ import annotations

import bisect
import re
from typing import Protocol

from core.types import Chunk, ElementSpan, Outline, ParsedDocument


class Chunker(Protocol):
    """Splits a document into chunks. Every chunk satisfies `chunk.text == document.text[chunk.start:chunk.end]`,
    chunks come in document order, and no chunk is empty."""

    name: str

    def chunk(self, document: ParsedDocument) -> list[Chunk]: ...


def anchor(text: str, piece: str, search_from: int) -> tuple[int, int] | None:
    """Where `piece` (a splitter's output, possibly with whitespace changed) lies in `text`, at or after search_from."""
    piece = piece.strip()
    if not piece:
        return None
    at = text.find(piece, search_from)
    if at >= 0:
        return at, at + len(piece)
    tokens = piece.split()
    pattern = re.compile(r"\s+".join(re.escape(token) for token in tokens))
    match = pattern.search(text, search_from) or pattern.search(text)
    if match:
        return match.start(), match.end()
    return None


class ElementIndex:
    """Answers "which page and element types does text[start:end] cover?" from the parser's element spans."""

    def __init__(self, elements: list[ElementSpan]):
        self._elements = sorted(elements, key=lambda e: e.start)
        self._starts = [e.start for e in self._elements]

    def covering(self, start: int, end: int) -> list[ElementSpan]:
        # Parsers emit elements in order and without overlap, so only the neighbours of [start, end) can cover it.
        left = max(0, bisect.bisect_right(self._starts, start) - 1)
        right = bisect.bisect_left(self._starts, end)
        return [e for e in self._elements[left:right] if e.end > start]

    def page_at(self, start: int, end: int) -> int | None:
        for element in self.covering(start, end):
            if element.page is not None:
                return element.page
        left = bisect.bisect_right(self._starts, start) - 1
        for element in reversed(self._elements[: left + 1]):
            if element.page is not None:
                return element.page
        return None


def make_chunks(document: ParsedDocument, spans: list[tuple[int, int]], outline: Outline | None = None) -> list[Chunk]:
    """Turns (start, end) spans into Chunks carrying page, element and heading metadata (the headings from the
    parser's Title elements unless the strategy found its own)."""
    index = ElementIndex(document.elements)
    outline = Outline.of_document(document) if outline is None else outline
    chunks = []
    for start, end in spans:
        body = document.text[start:end]
        if not body.strip():
            continue
        covered = index.covering(start, end)
        types = sorted({e.type for e in covered})
        chunks.append(
            Chunk(
                text=body,
                start=start,
                end=end,
                page=index.page_at(start, end),
                element_types=types,
                section=outline.at(start),
                ocr=any(e.ocr for e in covered),
                sections=outline.within(start, end),
            )
        )
    return chunks


def anchor_all(text: str, pieces: list[str], base: int = 0) -> list[tuple[int, int]]:
    """Anchors splitter outputs in order; `base` shifts spans found in a slice back into document offsets."""
    spans = []
    cursor = 0
    for piece in pieces:
        found = anchor(text, piece, cursor)
        if found is None:
            continue
        spans.append((found[0] + base, found[1] + base))
        cursor = found[0] + 1
    return spans
