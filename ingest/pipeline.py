"""The ingestion service: one file in, one outcome out (parse -> chunk -> embed -> index), idempotent by content."""

from __future__ import annotations

import logging
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from core.db import DeletionRow
from core.embedders import CachedEmbedder, Embedder
from core.failpoints import Failpoints
from core.hashing import sha256_file
from core.settings import Settings
from core.sparse import Bm25Encoder
from core.types import (
    ChunkPayload,
    ChunkRecord,
    DocumentLabels,
    DocumentStatus,
    IngestOutcome,
    RejectedDocument,
    RejectReason,
    Stage,
    chunk_id_for,
    document_id_for,
    timestamp_of,
)
from core.vectorstore import VectorStore
from ingest import archive
from ingest.catalog import DeletedAfterUpload, DocumentCatalog
from ingest.chunking import build_chunker
from ingest.parsing import Parser
from ingest.uploads import UploadArea

log = logging.getLogger("cairn.ingest")

StageCallback = Callable[[Stage, float], None]
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

# How this code makes a document's chunks. Raised when a change to parsing, chunking or embedding makes an index
# written before it answer worse than a fresh one; a document indexed in an older format is indexed again (as a new
# version) when it is next ingested, even unchanged. 1: before formats were recorded; 2 (2026-12-07): chunks carry
# their heading paths (`sections`) and their dense vectors are computed under them; 3 (2026-12-07): typeset ligatures
# read as their letters, a PDF's sideways margin text left out and its words hyphenated across lines joined, text
# garbled before it was saved repaired; 4 (2026-12-08): a PDF's unmapped glyphs ("(cid:0)") left out.
INDEX_FORMAT = 4


def _noop(stage: Stage, progress: float) -> None:
    del stage, progress


def check_name(kind: str, value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(f"invalid {kind} {value!r}: use 1-64 letters, digits, '-' or '_'")
    return value


def store_name(prefix: str, collection: str, strategy: str) -> str:
    return f"{prefix}-{collection}-{strategy}"


@dataclass
class IngestTarget:
    tenant: str
    collection: str
    strategy: str
    written_by: str | None = None  # the API key id recorded on each version written (None: open API or the CLI)


def embedded_texts(payloads) -> list[str]:
    """The texts whose embeddings a document's chunks may have cached: each chunk's indexed text (under its headings)
    and its text alone (what was embedded before headings were read, or is embedded when it has none)."""
    return list(dict.fromkeys(text for p in payloads for text in (p.indexed_text, p.text)))


class IngestService:
    """Needs a parser, an embedder (usually a CachedEmbedder), a vector store and the catalog; knows nothing of
    queues or HTTP."""

    def __init__(
        self,
        settings: Settings,
        catalog: DocumentCatalog,
        store: VectorStore,
        embedder: Embedder,
        parser: Parser,
        sparse: Bm25Encoder | None = None,
        uploads: UploadArea | None = None,
        failpoints: Failpoints | None = None,
    ):
        self.settings = settings
        self.failpoints = failpoints or Failpoints()
        self.uploads = uploads or UploadArea(settings.resolved_data_dir / "uploads")
        self.catalog = catalog
        self.store = store
        self.embedder = embedder
        self.parser = parser
        self.sparse = sparse or Bm25Encoder()
        self._chunkers: dict[str, object] = {}
        self._document_locks = [threading.Lock() for _ in range(64)]
        self._prepared: set[tuple[str, str, str]] = set()

    def _chunker(self, strategy: str):
        if strategy not in self._chunkers:
            c = self.settings.chunking
            self._chunkers[strategy] = build_chunker(strategy, c.chunk_size, c.chunk_overlap, self.embedder)
        return self._chunkers[strategy]

    def prepare_collection(self, target: IngestTarget) -> str:
        check_name("collection", target.collection)
        self._chunker(target.strategy)  # unknown strategies fail here, before any work
        name = store_name(self.settings.qdrant.prefix, target.collection, target.strategy)
        key = (target.tenant, target.collection, target.strategy)
        if key in self._prepared:  # registered and created by this process already: nothing to check per file
            return name
        self.catalog.register_collection(
            target.tenant, target.collection, target.strategy, name, self.embedder.model_id, self.embedder.dim,
            self.settings.chunking.chunk_size, self.settings.chunking.chunk_overlap,
        )
        self.store.ensure_collection(name, self.embedder.dim)
        self._prepared.add(key)
        return name

    def ingest(
        self,
        path: Path,
        *,
        display: str,
        source: str,
        target: IngestTarget,
        labels: DocumentLabels = DocumentLabels(),
        on_stage: StageCallback = _noop,
        depth: int = 0,
        replace: bool = True,
        accepted_at: datetime | None = None,
    ) -> IngestOutcome:
        """Ingests one file (or one archive, member by member). Bad input becomes a `rejected` outcome. With
        `replace` False, a live document of the same source with other content is left as it is: `conflict`. A
        file accepted (`accepted_at`, its upload's time) before its document was deleted is not ingested after the
        delete: `conflict`, and the document stays deleted."""
        document_id = None if archive.is_archive(display) else document_id_for(target.tenant, target.collection, source)
        try:
            self._check_file(path)
            if document_id is None:
                return self._ingest_archive(
                    path, display=display, source=source, target=target, labels=labels, on_stage=on_stage, depth=depth,
                    replace=replace, accepted_at=accepted_at,
                )
            return self._ingest_document(
                path, document_id, display=display, source=source, target=target, labels=labels, on_stage=on_stage,
                replace=replace, accepted_at=accepted_at,
            )
        except RejectedDocument as rejected:
            return IngestOutcome(display, document_id, DocumentStatus.REJECTED, reason=str(rejected))

    def _check_file(self, path: Path) -> None:
        if not path.is_file():
            raise RejectedDocument(RejectReason.NOT_FOUND, "the file does not exist or is not a regular file")
        size = path.stat().st_size
        if size == 0:
            raise RejectedDocument(RejectReason.EMPTY, "the file is empty (0 bytes)")
        if size > self.settings.ingest.max_file_bytes:
            raise RejectedDocument(
                RejectReason.TOO_LARGE, f"{size} bytes, more than the limit of {self.settings.ingest.max_file_bytes}"
            )

    def _ingest_document(
        self,
        path: Path,
        document_id: str,
        *,
        display: str,
        source: str,
        target: IngestTarget,
        labels: DocumentLabels,
        on_stage: StageCallback,
        replace: bool,
        accepted_at: datetime | None,
    ) -> IngestOutcome:
        name = self.prepare_collection(target)
        content_hash = sha256_file(path)
        # One version of a document is written at a time in this process: two files of the same source arriving at
        # once would otherwise both plan the same version, and one would silently overwrite the other.
        with self._lock_of(document_id):
            return self._write_document(path, document_id, content_hash, name, display=display, source=source,
                                        target=target, labels=labels, on_stage=on_stage, replace=replace,
                                        accepted_at=accepted_at)

    def _lock_of(self, document_id: str) -> threading.Lock:
        return self._document_locks[hash(document_id) % len(self._document_locks)]

    @staticmethod
    def _deleted_after_upload(display: str, document_id: str, deleted_at: datetime) -> IngestOutcome:
        """The `conflict` outcome of a file whose document was deleted after the file was accepted."""
        return IngestOutcome(display, document_id, DocumentStatus.CONFLICT, reason=(
            f"document {document_id} was deleted at {deleted_at.isoformat(timespec='seconds')}, after this file was "
            "uploaded: it was not ingested (upload it again to restore the document)"))

    def _write_document(
        self, path: Path, document_id: str, content_hash: str, name: str, *, display: str, source: str,
        target: IngestTarget, labels: DocumentLabels, on_stage: StageCallback, replace: bool,
        accepted_at: datetime | None,
    ) -> IngestOutcome:
        plan = self.catalog.plan(document_id, target.strategy, content_hash, accepted_at, index_format=INDEX_FORMAT)
        if plan.deleted_at:
            return self._deleted_after_upload(display, document_id, plan.deleted_at)
        if plan.unchanged and self.store.count(name, document_id) > 0:
            return IngestOutcome(display, document_id, DocumentStatus.UNCHANGED)
        if plan.other_content and not replace:
            return IngestOutcome(display, document_id, DocumentStatus.CONFLICT, reason=conflict_reason(document_id))

        on_stage(Stage.PARSING, 0.05)
        parsed = self.parser.parse(path, Path(display).name)

        on_stage(Stage.CHUNKING, 0.35)
        chunks = self._chunker(target.strategy).chunk(parsed)
        if not chunks:
            raise RejectedDocument(RejectReason.NO_TEXT, "no chunk could be made from the extracted text")

        on_stage(Stage.EMBEDDING, 0.45)
        dense = self.embedder.embed_documents([c.indexed_text for c in chunks])

        on_stage(Stage.INDEXING, 0.85)
        records = []
        date_ts = timestamp_of(labels.date) if labels.date else time.time()
        for index, (chunk, vector) in enumerate(zip(chunks, dense, strict=True)):
            indices, values = self.sparse.encode_document(chunk.text)
            payload = ChunkPayload(
                tenant=target.tenant, collection=target.collection, strategy=target.strategy, document_id=document_id,
                version=plan.version, content_hash=content_hash, source=source, filename=Path(display).name,
                title=parsed.title, chunk_index=index, text=chunk.text, start=chunk.start, end=chunk.end, page=chunk.page,
                element_types=tuple(chunk.element_types), section=chunk.section, tags=tuple(labels.tags),
                date_ts=date_ts, ocr=chunk.ocr, parent_text=chunk.parent_text, parent_start=chunk.parent_start,
                parent_end=chunk.parent_end, sections=chunk.sections,
            )
            records.append(
                ChunkRecord(chunk_id_for(document_id, plan.version, index), vector.tolist(), indices, values, payload)
            )
        # The replaced version's chunks leave the index: so do their cached embeddings, unless still in use.
        replaced = embedded_texts(c.payload for c in self.store.chunks(name, document_id)) if plan.replaces else []
        self.store.replace_document(name, document_id, plan.version, records,
                                    on_staged=lambda: self.failpoints.reach("swap", document_id=document_id))
        if replaced:
            current = {c.indexed_text for c in chunks}
            self._forget_embeddings([t for t in replaced if t not in current], document_id)
        keep = self.uploads.owns(path)
        try:
            new_version = self.catalog.record(
                document_id=document_id, tenant=target.tenant, collection=target.collection, strategy=target.strategy,
                source=source, filename=Path(display).name, size_bytes=path.stat().st_size, content_hash=content_hash,
                version=plan.version, parsed=parsed, chunks=len(records), written_by=target.written_by,
                stored_path=str(path) if keep else None, tags=labels.tags, accepted_at=accepted_at,
                index_format=INDEX_FORMAT,
            )
        except DeletedAfterUpload as deleted:  # deleted while this file was being read, perhaps by another process
            self.store.delete_document(name, document_id)
            self._forget_embeddings([c.indexed_text for c in chunks], document_id)
            return self._deleted_after_upload(display, document_id, deleted.deleted_at)
        status = DocumentStatus.REPLACED if plan.replaces else DocumentStatus.INDEXED
        return IngestOutcome(display, document_id, status, chunks=len(records), keeps_file=keep and new_version)

    def _ingest_archive(
        self,
        path: Path,
        *,
        display: str,
        source: str,
        target: IngestTarget,
        labels: DocumentLabels,
        on_stage: StageCallback,
        depth: int,
        replace: bool,
        accepted_at: datetime | None,
    ) -> IngestOutcome:
        if depth > self.settings.ingest.archive_max_depth:
            raise RejectedDocument(RejectReason.ARCHIVE_LIMIT, f"archives nested deeper than {self.settings.ingest.archive_max_depth}")
        workdir = self.settings.resolved_data_dir / "work" / uuid.uuid4().hex
        try:
            members = archive.expand(path, workdir, self.settings.ingest, display)
            outcomes = []
            for member in members:
                member_display, member_source = f"{display}::{member.name}", f"{source}::{member.name}"
                if member.path is None:
                    member_id = document_id_for(target.tenant, target.collection, member_source)
                    outcomes.append(IngestOutcome(member_display, member_id, DocumentStatus.REJECTED, reason=str(member.refusal)))
                    continue
                outcomes.append(
                    self.ingest(
                        member.path, display=member_display, source=member_source, target=target, labels=labels,
                        depth=depth + 1, replace=replace, accepted_at=accepted_at,
                    )
                )
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return _archive_outcome(display, outcomes)

    def delete(self, tenant: str, document_id: str) -> bool:
        """Erases a document: its chunks, the extracted text of every version, its kept upload files and the cached
        embeddings no other document still uses; a new corpus version follows (cached answers are not served).

        What it must remove is recorded first, so a deletion interrupted half-way (the process killed) is finished
        by `resume_deletions` rather than leaving a document listed without its chunks."""
        document = self.catalog.get(tenant, document_id)
        if document is None:
            return False
        names = [store_name(self.settings.qdrant.prefix, document.collection, entry.strategy)
                 for entry in self.catalog.index_entries(document_id)]
        self.catalog.begin_deletion(DeletionRow(
            document_id=document_id, tenant=tenant, collection=document.collection, store_names=names,
            stored_paths=self.catalog.stored_paths(document_id),
            texts=embedded_texts(c.payload for name in names for c in self.store.chunks(name, document_id)),
        ))
        with self._lock_of(document_id):  # not while this process writes a version of it
            deletion = self.catalog.deletion(document_id)
            if deletion is not None:  # None: a concurrent delete of the same document finished it while we waited
                self._finish_deletion(deletion)
        return True

    def resume_deletions(self) -> int:
        """Finishes the deletions a previous process began and did not complete; returns how many."""
        pending = self.catalog.pending_deletions()
        for deletion in pending:
            log.warning("finishing the interrupted deletion of %s", deletion.document_id)
            self._finish_deletion(deletion)
        return len(pending)

    def _finish_deletion(self, deletion: DeletionRow) -> None:
        """Each step may already have been done (by an interrupted run): all of them are safe to repeat. The index
        entries are read again: another process may have recorded the document in a new strategy just before the
        tombstone was written (after it, a version cannot be recorded: `DocumentCatalog.record`)."""
        names = [*deletion.store_names, *(
            store_name(self.settings.qdrant.prefix, deletion.collection, entry.strategy)
            for entry in self.catalog.index_entries(deletion.document_id))]
        for name in dict.fromkeys(names):
            self.store.delete_document(name, deletion.document_id)
        self.failpoints.reach("delete", document_id=deletion.document_id)
        self.catalog.erase(deletion.document_id)
        for stored in deletion.stored_paths:
            self.uploads.discard(Path(stored))
        self._forget_embeddings(deletion.texts, deletion.document_id)
        self.catalog.record_corpus_version(deletion.tenant, deletion.collection)
        self.catalog.end_deletion(deletion.document_id)

    def _forget_embeddings(self, texts: list[str], document_id: str) -> None:
        """`texts` are the keys of the chunks' cached embeddings (`embedded_texts`). Another document's chunk keeps a
        plain text in use; one under a heading path is never matched there and is forgotten: at worst another
        document with the same text under the same headings embeds it again, and nothing erased lingers."""
        if not isinstance(self.embedder, CachedEmbedder) or not texts:
            return
        unique = list(dict.fromkeys(texts))
        in_use: set[str] = set()
        for name in self.catalog.store_names(self.embedder.model_id):
            in_use |= self.store.texts_in_use(name, unique, document_id)
        self.embedder.forget([t for t in unique if t not in in_use])


def conflict_reason(document_id: str) -> str:
    return (
        f"conflict: a document with this name and other content exists ({document_id}); nothing was changed. "
        f"Send replace=true, or PUT /v1/documents/{document_id}, to replace it"
    )


def _archive_outcome(display: str, members: list[IngestOutcome]) -> IngestOutcome:
    statuses = {m.status for m in members}
    chunks = sum(m.chunks for m in members)
    if DocumentStatus.INDEXED in statuses:
        status = DocumentStatus.INDEXED
    elif DocumentStatus.REPLACED in statuses:
        status = DocumentStatus.REPLACED
    elif DocumentStatus.CONFLICT in statuses:
        conflicts = "; ".join(m.path for m in members if m.status is DocumentStatus.CONFLICT)
        return IngestOutcome(display, None, DocumentStatus.CONFLICT, members=members,
                             reason=f"conflict: members named like documents with other content were left as they are ({conflicts})")
    elif statuses == {DocumentStatus.UNCHANGED} or statuses == {DocumentStatus.UNCHANGED, DocumentStatus.REJECTED}:
        status = DocumentStatus.UNCHANGED
    else:
        reasons = "; ".join(f"{m.path}: {m.reason}" for m in members)
        # Like every rejection, the reason starts with a code: the members' own when they share one.
        codes = {(m.reason or "").split(":", 1)[0] for m in members}
        code = codes.pop() if len(codes) == 1 and codes <= {r.value for r in RejectReason} else RejectReason.NO_TEXT.value
        return IngestOutcome(display, None, DocumentStatus.REJECTED, reason=f"{code}: no member could be ingested ({reasons})",
                             members=members)
    return IngestOutcome(display, None, status, chunks=chunks, members=members)
