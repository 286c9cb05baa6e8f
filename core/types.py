"""Domain types shared by ingestion, retrieval and the API: what a parsed document, a chunk and an outcome are."""

from __future__ import annotations

import bisect
import errno
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# Fixed namespace so ids are the same on every machine and every run.
CAIRN_NAMESPACE = uuid.UUID("6f1d3a52-8c1e-4f53-9f0e-2b7d0a4c9e11")


def document_id_for(tenant: str, collection: str, source: str) -> str:
    """A document is identified by where it came from, so re-ingesting the same source finds it again."""
    return str(uuid.uuid5(CAIRN_NAMESPACE, f"{tenant}\x1f{collection}\x1f{source}"))


def chunk_id_for(document_id: str, version: int, index: int) -> str:
    return str(uuid.uuid5(CAIRN_NAMESPACE, f"{document_id}\x1f{version}\x1f{index}"))


@dataclass(frozen=True)
class ElementSpan:
    """One unstructured element located in the document's extracted text: text[start:end]."""

    start: int
    end: int
    type: str
    page: int | None = None
    ocr: bool = False  # the text was read from an image by OCR
    depth: int | None = None  # a heading's level (0 = top) when the format tells it (Markdown #, HTML h1-h6...)


def _offset(mark: tuple[int, str]) -> int:
    return mark[0]


# A heading path longer than this (characters) is cut: it is context for reading a sentence, not the sentence.
MAX_SECTION_CHARS = 200


@dataclass(frozen=True)
class Outline:
    """Which headings a document's text sits under: `marks` are (offset, heading path) in offset order, each path
    ("Valkyria Chronicles III > Reception") in force from its offset to the next mark."""

    marks: tuple[tuple[int, str], ...] = ()

    @classmethod
    def of_headings(cls, headings: list[tuple[int, int | None, str]]) -> Outline:
        """From (offset, depth, title) of each heading in order. A heading closes those at its depth and deeper; one
        whose depth the format does not tell (a PDF's titles) sits below every heading of known depth and replaces
        the previous one of unknown depth."""
        open_: list[tuple[int, str]] = []  # (level, title), outermost first
        marks = []
        for offset, depth, title in headings:
            title = " ".join(title.split())
            if not title:
                continue
            level = depth if depth is not None else 1 << 16
            open_ = [h for h in open_ if h[0] < level] + [(level, title)]
            marks.append((offset, " > ".join(t for _, t in open_)[:MAX_SECTION_CHARS]))
        return cls(tuple(marks))

    @classmethod
    def of_document(cls, document: ParsedDocument) -> Outline:
        return cls.of_headings([(e.start, e.depth, document.text[e.start : e.end]) for e in document.elements
                                if e.type == "Title"])

    def at(self, offset: int) -> str | None:
        """The heading path in force at `offset`, or None before the first heading."""
        i = bisect.bisect_right(self.marks, offset, key=_offset) - 1
        return self.marks[i][1] if i >= 0 else None

    def within(self, start: int, end: int) -> tuple[tuple[int, str], ...]:
        """The marks that matter to text[start:end]: the path in force at `start` (as of `start`), then each
        heading that begins inside it."""
        first = self.at(start)
        first_inside = bisect.bisect_right(self.marks, start, key=_offset)
        inside = self.marks[first_inside : bisect.bisect_left(self.marks, end, key=_offset)]
        return (((start, first),) if first else ()) + inside


@dataclass
class ParsedDocument:
    """The extracted text of a document and where each element lies in it. Offsets index `text`."""

    text: str
    elements: list[ElementSpan]
    title: str
    mime_type: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Chunk:
    """A span of a document's extracted text: `text == document_text[start:end]`."""

    text: str
    start: int
    end: int
    page: int | None = None
    element_types: list[str] = field(default_factory=list)
    section: str | None = None  # the heading path at its start
    # Hierarchical strategies: the parent span returned when this (smaller) chunk is retrieved.
    parent_text: str | None = None
    parent_start: int | None = None
    parent_end: int | None = None
    ocr: bool = False  # some of the text was read by OCR (a scan or an image)
    # The heading paths over the text a search returns for it (its parent span if it has one): Outline.within.
    sections: tuple[tuple[int, str], ...] = ()

    @property
    def indexed_text(self) -> str:
        return indexed_text(self.text, self.section)


def indexed_text(text: str, section: str | None) -> str:
    """What a chunk's dense vector is computed from: its text under its heading path ("Valkyria Chronicles III >
    Reception" on a line before it), so that a chunk deep in an article is found by the article's name; the text
    alone when it has no heading or opens on its own heading."""
    if not section or text.lstrip().startswith(section.rsplit(" > ", 1)[-1]):
        return text
    return f"{section}\n{text}"


@dataclass(frozen=True)
class ChunkPayload:
    """What the vector store keeps with each chunk: written by ingestion, read by search and both stores. The
    filterable fields (tenant, document_id, source, tags, date_ts) are the ones SearchFilter matches."""

    tenant: str
    document_id: str
    text: str  # == the document's extracted text[start:end]
    source: str
    version: int = 1
    collection: str = ""
    strategy: str = ""
    content_hash: str = ""
    filename: str = ""
    title: str = ""
    chunk_index: int = 0
    start: int = 0
    end: int = 0
    page: int | None = None
    element_types: tuple[str, ...] = ()
    section: str | None = None
    tags: tuple[str, ...] = ()
    date_ts: float | None = None  # the document's date (epoch seconds)
    ocr: bool = False  # some of the text was read by OCR
    # Hierarchical strategies: the parent span returned when this (smaller) chunk is retrieved.
    parent_text: str | None = None
    parent_start: int | None = None
    parent_end: int | None = None
    # The heading paths over the text a hit returns (Outline.within): (document offset, "Title > Section") pairs.
    sections: tuple[tuple[int, str], ...] = ()

    @property
    def indexed_text(self) -> str:
        return indexed_text(self.text, self.section)

    def as_dict(self) -> dict[str, Any]:
        """The stored form (lists for tuples); the parent fields only when there is a parent."""
        stored = {name: getattr(self, name) for name in _PAYLOAD_FIELDS}
        stored["element_types"], stored["tags"] = list(self.element_types), list(self.tags)
        stored["sections"] = [[offset, path] for offset, path in self.sections]
        if self.parent_text is None:
            for name in ("parent_text", "parent_start", "parent_end"):
                del stored[name]
        return stored

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> ChunkPayload:
        """Reads a stored payload back; fields the store adds (its own bookkeeping) are left out."""
        known = {name: stored[name] for name in _PAYLOAD_FIELDS if name in stored}
        for name in ("element_types", "tags"):
            if name in known:
                known[name] = tuple(known[name] or ())
        if "sections" in known:  # payloads written before sections were kept have none
            known["sections"] = tuple((int(offset), str(path)) for offset, path in known["sections"] or ())
        return cls(**known)


_PAYLOAD_FIELDS = tuple(ChunkPayload.__dataclass_fields__)


@dataclass
class ChunkRecord:
    """A chunk ready for the vector store: ids, vectors and payload."""

    id: str
    dense: list[float]
    sparse_indices: list[int]
    sparse_values: list[float]
    payload: ChunkPayload


@dataclass
class ScoredChunk:
    id: str
    score: float  # the score that ranked it (the fusion's, in hybrid search)
    payload: ChunkPayload
    # In hybrid search, its reciprocal-rank-fusion score whatever fusion ranked it: how far the dense and the keyword
    # search agree on it (highest when both put it first). None outside hybrid search.
    rrf_score: float | None = None


class DocumentStatus(StrEnum):
    INDEXED = "indexed"
    UNCHANGED = "unchanged"
    REPLACED = "replaced"
    REJECTED = "rejected"
    # An upload named like a live document with other content, and not asked to replace it: nothing changed.
    CONFLICT = "conflict"
    FAILED = "failed"


class Stage(StrEnum):
    QUEUED = "queued"
    PARSING = "parsing"
    CHUNKING = "chunking"
    EMBEDDING = "embedding"
    INDEXING = "indexing"
    DONE = "done"
    FAILED = "failed"


TERMINAL_STATUSES = frozenset(s.value for s in DocumentStatus)


@dataclass
class IngestOutcome:
    path: str
    document_id: str | None
    status: DocumentStatus
    chunks: int = 0
    reason: str | None = None
    members: list["IngestOutcome"] = field(default_factory=list)
    keeps_file: bool = False  # the file is kept as the content of the version written (an upload must not be removed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "document_id": self.document_id,
            "status": self.status.value,
            "chunks": self.chunks,
            "reason": self.reason,
        }


class RejectReason(StrEnum):
    """Why a file was not indexed. Bad input, never retried."""

    EMPTY = "empty"
    NO_TEXT = "no_text"
    ENCRYPTED = "encrypted"
    UNSUPPORTED = "unsupported_type"
    CORRUPT = "corrupt"
    TOO_LARGE = "too_large"
    TIMEOUT = "parse_timeout"
    ARCHIVE_LIMIT = "archive_limit"
    UNSAFE_NAME = "unsafe_name"
    NOT_FOUND = "not_found"


class RejectedDocument(Exception):
    """Bad input: the file gets the outcome `rejected: <code>: <message>` and is never retried."""

    def __init__(self, code: RejectReason, message: str):
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message

    def __reduce__(self):
        # Parsers run in a child process: the exception must survive pickling with its code.
        return (RejectedDocument, (self.code, self.message))


class TransientError(Exception):
    """A dependency failed in a way that may pass (connection refused, timeout): the task is retried."""


class DiskFull(TransientError):
    """The data disk (SQLite, the index, the upload area) has no space left: the work is retried once there is."""


_DISK_FULL_WORDS = ("database or disk is full", "no space left on device", "could not extend file")


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether an error (or one it was raised from) is a full disk, as SQLite, Qdrant Edge, Postgres or the OS say it."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return True
        if any(words in str(exc).lower() for words in _DISK_FULL_WORDS):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


@dataclass(frozen=True)
class DocumentLabels:
    """What a content team says about a file beyond its content: tags and a date, both usable as search filters."""

    tags: tuple[str, ...] = ()
    date: str | None = None  # ISO 8601 date or datetime; the ingestion time when absent

    @staticmethod
    def parse(meta: dict) -> DocumentLabels:
        """From upload metadata; ValueError with a clear message on a bad value."""
        tags = meta.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) and 0 < len(t) <= 100 for t in tags) or len(tags) > 50:
            raise ValueError("metadata.tags must be a list of at most 50 non-empty strings of at most 100 characters")
        date = meta.get("date")
        if date is not None:
            timestamp_of(date)
        return DocumentLabels(tuple(dict.fromkeys(tags)), date)

    def as_json(self) -> dict:
        return {"tags": list(self.tags), "date": self.date}


def timestamp_of(value: str) -> float:
    """Seconds since the epoch of an ISO 8601 date or datetime (UTC when no zone is given)."""
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date (e.g. 2024-03-01 or 2024-03-01T12:00:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
