"""The document catalog: which documents exist, their versions and extracted texts, and the corpus version."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from core.db import (
    CollectionRow,
    CorpusVersionRow,
    Database,
    DeletionRow,
    DocumentRow,
    DocumentVersionRow,
    IndexEntryRow,
    UtcDateTime,
    insert_for,
    utcnow,
)
from core.types import ParsedDocument

# The statements every ingested file runs, built once (see Database.connection).
_DOCUMENTS, _VERSIONS, _ENTRIES = DocumentRow.__table__, DocumentVersionRow.__table__, IndexEntryRow.__table__
_DOCUMENT_CONTENT_COLUMNS = ("filename", "title", "mime_type", "size_bytes", "content_hash", "version", "tags", "updated_at")
_INDEX_ENTRY = select(_ENTRIES.c.content_hash, _ENTRIES.c.version, _ENTRIES.c.index_format).where(
    _ENTRIES.c.document_id == bindparam("document_id"), _ENTRIES.c.strategy == bindparam("strategy")
)
_DOCUMENT_CONTENT = select(_DOCUMENTS.c.content_hash, _DOCUMENTS.c.version).where(_DOCUMENTS.c.id == bindparam("document_id"))
_VERSION_EXISTS = select(_VERSIONS.c.version).where(
    _VERSIONS.c.document_id == bindparam("document_id"), _VERSIONS.c.version == bindparam("version")
)
_RETIRE_VERSIONS = (
    update(_VERSIONS)
    .where(_VERSIONS.c.document_id == bindparam("retiring"), _VERSIONS.c.retired_at.is_(None))
    .values(retired_at=bindparam("retired", type_=UtcDateTime))
)
_ADD_VERSION = insert(_VERSIONS)
_DELETED_AT = select(DeletionRow.__table__.c.requested_at).where(
    DeletionRow.__table__.c.document_id == bindparam("document_id")
)


@dataclass(frozen=True)
class DocumentVersion:
    """What ingestion decided for one document: its version and whether anything must be (re)indexed."""

    version: int
    unchanged: bool
    replaces: bool
    # The document is live with other content: a new version replaces what someone else may have uploaded.
    other_content: bool = False
    # The document was deleted at this time, after the file was accepted: the file must not bring it back.
    deleted_at: datetime | None = None


class DeletedAfterUpload(Exception):
    """The document was deleted after the file being recorded was accepted; nothing was recorded."""

    def __init__(self, document_id: str, deleted_at: datetime):
        super().__init__(f"document {document_id} was deleted at {deleted_at.isoformat(timespec='seconds')}")
        self.deleted_at = deleted_at


class CollectionMismatch(ValueError):
    """The collection was built with another embedder or chunk settings; mixing them would corrupt search."""


class DocumentCatalog:
    def __init__(self, db: Database):
        self.db = db
        upsert = insert_for(db.dialect)
        document = upsert(_DOCUMENTS)
        # A document keeps its tenant, collection, source and creation time; the rest describes its new content.
        self._upsert_document = document.on_conflict_do_update(
            index_elements=[_DOCUMENTS.c.id],
            set_={name: document.excluded[name] for name in _DOCUMENT_CONTENT_COLUMNS},
        )
        entry = upsert(_ENTRIES)
        self._upsert_index_entry = entry.on_conflict_do_update(
            index_elements=[_ENTRIES.c.document_id, _ENTRIES.c.strategy],
            set_={name: entry.excluded[name]
                  for name in ("content_hash", "version", "chunks", "indexed_at", "index_format")},
        )

    def register_collection(
        self, tenant: str, name: str, strategy: str, store_name: str, embedder: str, dim: int, size: int, overlap: int
    ) -> None:
        args = (tenant, name, strategy, store_name, embedder, dim, size, overlap)
        try:
            self._register_collection(*args)
        except IntegrityError:  # another worker thread or process registered it at the same moment: check theirs
            self._register_collection(*args)

    def _register_collection(
        self, tenant: str, name: str, strategy: str, store_name: str, embedder: str, dim: int, size: int, overlap: int
    ) -> None:
        with self.db.session() as s:
            row = s.get(CollectionRow, (tenant, name, strategy))
            if row is None:
                s.add(
                    CollectionRow(
                        tenant=tenant, name=name, strategy=strategy, store_name=store_name, embedder=embedder,
                        dim=dim, chunk_size=size, chunk_overlap=overlap,
                    )
                )
            elif row.embedder != embedder or row.dim != dim:
                raise CollectionMismatch(
                    f"collection {name!r} ({strategy}) was built with the embedder {row.embedder}; this deployment "
                    f"uses {embedder}. Ingest into a new collection, or switch the embedder back."
                )

    def collections(self, tenant: str) -> list[CollectionRow]:
        with self.db.session() as s:
            return list(s.scalars(select(CollectionRow).where(CollectionRow.tenant == tenant)))

    def plan(
        self, document_id: str, strategy: str, content_hash: str, accepted_at: datetime | None = None, *,
        index_format: int,
    ) -> DocumentVersion:
        """The version a file of this content gets. With `accepted_at` (when its upload was accepted), a deletion of
        the document since then is reported (`deleted_at`), in the same round trip. The same content indexed in a
        format older than `index_format` is not unchanged: it is indexed again, as a new version (a version's
        chunks are swapped in whole, never rewritten in place)."""
        with self.db.connection() as c:
            if deleted_at := _deleted_since(c, document_id, accepted_at):
                return DocumentVersion(0, unchanged=False, replaces=False, deleted_at=deleted_at)
            entry = c.execute(_INDEX_ENTRY, {"document_id": document_id, "strategy": strategy}).first()
            same = entry is not None and entry.content_hash == content_hash
            if same and entry.index_format >= index_format:
                return DocumentVersion(entry.version, unchanged=True, replaces=False)
            document = c.execute(_DOCUMENT_CONTENT, {"document_id": document_id}).first()
            if document is None:
                version = 1
            elif document.content_hash == content_hash and not (same and entry.version == document.version):
                version = document.version  # this content's version, which this strategy's index lacks
            else:
                version = document.version + 1
            other = document is not None and document.content_hash != content_hash
            return DocumentVersion(version, unchanged=False, replaces=entry is not None, other_content=other)

    def record(
        self,
        *,
        document_id: str,
        tenant: str,
        collection: str,
        strategy: str,
        source: str,
        filename: str,
        size_bytes: int,
        content_hash: str,
        version: int,
        parsed: ParsedDocument,
        chunks: int,
        written_by: str | None = None,
        stored_path: str | None = None,
        tags: tuple[str, ...] = (),
        accepted_at: datetime | None = None,
        index_format: int,
    ) -> bool:
        """Records the document and its index entry, and the version when it is new; True if the version is new
        (and so keeps `stored_path`). With `accepted_at`, raises DeletedAfterUpload if the document was deleted
        since: the check and the writes hold the document's lock (`Database.lock_document`), which a deletion takes
        to write its tombstone, so a delete in another process cannot slip between them."""
        now = utcnow()
        with self.db.connection() as c:
            self.db.lock_document(c, document_id)
            if deleted_at := _deleted_since(c, document_id, accepted_at):
                raise DeletedAfterUpload(document_id, deleted_at)
            c.execute(
                self._upsert_document,
                dict(
                    id=document_id, tenant=tenant, collection=collection, source=source, filename=filename,
                    title=parsed.title, mime_type=parsed.mime_type, size_bytes=size_bytes, content_hash=content_hash,
                    version=version, tags=list(tags), created_at=now, updated_at=now,
                ),
            )
            new_version = c.execute(_VERSION_EXISTS, {"document_id": document_id, "version": version}).first() is None
            if new_version:
                c.execute(_RETIRE_VERSIONS, {"retiring": document_id, "retired": now})
                c.execute(
                    _ADD_VERSION,
                    dict(document_id=document_id, version=version, content_hash=content_hash, text=parsed.text,
                         created_at=now, written_by=written_by, stored_path=stored_path),
                )
            c.execute(
                self._upsert_index_entry,
                dict(document_id=document_id, strategy=strategy, content_hash=content_hash, version=version, chunks=chunks,
                     indexed_at=now, index_format=index_format),
            )
        return new_version

    def get(self, tenant: str, document_id: str) -> DocumentRow | None:
        with self.db.session() as s:
            row = s.get(DocumentRow, document_id)
            return row if row is not None and row.tenant == tenant else None

    def index_entries(self, document_id: str) -> list[IndexEntryRow]:
        with self.db.session() as s:
            return list(s.scalars(select(IndexEntryRow).where(IndexEntryRow.document_id == document_id)))

    def chunk_counts(self, document_ids: list[str]) -> dict[str, int]:
        """Chunks in the index per document (its largest index, when it is indexed with several strategies)."""
        if not document_ids:
            return {}
        with self.db.session() as s:
            rows = s.execute(select(IndexEntryRow.document_id, func.max(IndexEntryRow.chunks))
                             .where(IndexEntryRow.document_id.in_(document_ids)).group_by(IndexEntryRow.document_id))
            return {document_id: chunks for document_id, chunks in rows}

    def text(self, document_id: str, version: int) -> str | None:
        with self.db.session() as s:
            row = s.get(DocumentVersionRow, (document_id, version))
            return row.text if row else None

    def list(self, tenant: str, collection: str | None = None, limit: int = 100, offset: int = 0) -> list[DocumentRow]:
        with self.db.session() as s:
            query = select(DocumentRow).where(DocumentRow.tenant == tenant)
            if collection:
                query = query.where(DocumentRow.collection == collection)
            query = query.order_by(DocumentRow.source).limit(limit).offset(offset)
            return list(s.scalars(query))

    def versions(self, document_id: str) -> list[DocumentVersionRow]:
        """Every version the document has had, oldest first (with the key that wrote it)."""
        with self.db.session() as s:
            return list(s.scalars(
                select(DocumentVersionRow).where(DocumentVersionRow.document_id == document_id).order_by(DocumentVersionRow.version)
            ))

    def stored_paths(self, document_id: str) -> list[str]:
        """The kept upload files of every version of the document."""
        with self.db.session() as s:
            return [p for p in s.scalars(
                select(DocumentVersionRow.stored_path).where(DocumentVersionRow.document_id == document_id)
            ) if p]

    def erase(self, document_id: str) -> None:
        """Removes the document, its index entries and every version with its extracted text."""
        with self.db.session() as s:
            s.execute(delete(IndexEntryRow).where(IndexEntryRow.document_id == document_id))
            s.execute(delete(DocumentVersionRow).where(DocumentVersionRow.document_id == document_id))
            s.execute(delete(DocumentRow).where(DocumentRow.id == document_id))

    def begin_deletion(self, deletion: DeletionRow) -> None:
        """Records what deleting a document must remove before any of it is removed (a retried delete that finds
        its row under way keeps the first, which knows the texts; a finished one, of an earlier life of the same
        document, is replaced)."""
        with self.db.session() as s:
            self.db.lock_document(s.connection(), deletion.document_id)
            found = s.get(DeletionRow, deletion.document_id)
            if found is not None and found.finished_at is not None:
                s.delete(found)
                s.flush()
                found = None
            if found is None:
                s.add(deletion)

    def deletion(self, document_id: str) -> DeletionRow | None:
        """The document's deletion under way, if any."""
        with self.db.session() as s:
            found = s.get(DeletionRow, document_id)
            return found if found is not None and found.finished_at is None else None

    def pending_deletions(self) -> list[DeletionRow]:
        with self.db.session() as s:
            return list(s.scalars(select(DeletionRow).where(DeletionRow.finished_at.is_(None))
                                  .order_by(DeletionRow.requested_at)))

    def end_deletion(self, document_id: str) -> None:
        """Marks the deletion finished; its row stays, emptied, as the document's tombstone."""
        with self.db.session() as s:
            s.execute(update(DeletionRow).where(DeletionRow.document_id == document_id)
                      .values(finished_at=utcnow(), store_names=[], stored_paths=[], texts=[]))

    def deleted_since(self, document_id: str, when: datetime) -> datetime | None:
        """When the document was deleted, if that was at or after `when` (an upload accepted then is stale)."""
        with self.db.connection() as c:
            return _deleted_since(c, document_id, when)

    def store_names(self, embedder: str) -> list[str]:
        """The vector-store collections (all tenants) built with this embedder: they share its embedding cache."""
        with self.db.session() as s:
            return sorted(set(s.scalars(select(CollectionRow.store_name).where(CollectionRow.embedder == embedder))))

    def record_corpus_version(self, tenant: str, collection: str) -> str:
        """Hashes the manifest (document id, content hash) of the live documents; stores it when it changed."""
        with self.db.session() as s:
            rows = s.execute(
                select(DocumentRow.id, DocumentRow.content_hash)
                .where(DocumentRow.tenant == tenant, DocumentRow.collection == collection)
                .order_by(DocumentRow.id)
            ).all()
            digest = hashlib.sha256("\n".join(f"{i}:{h}" for i, h in rows).encode()).hexdigest()
            latest = s.scalars(
                select(CorpusVersionRow.version)
                .where(CorpusVersionRow.tenant == tenant, CorpusVersionRow.collection == collection)
                .order_by(CorpusVersionRow.id.desc())
                .limit(1)
            ).first()
            if latest != digest:
                s.add(CorpusVersionRow(tenant=tenant, collection=collection, version=digest, documents=len(rows)))
            return digest

    def corpus_version(self, tenant: str, collection: str) -> str | None:
        with self.db.session() as s:
            return s.scalars(
                select(CorpusVersionRow.version)
                .where(CorpusVersionRow.tenant == tenant, CorpusVersionRow.collection == collection)
                .order_by(CorpusVersionRow.id.desc())
                .limit(1)
            ).first()

    def count(self, tenant: str, collection: str) -> int:
        with self.db.session() as s:
            return s.scalar(
                select(func.count()).select_from(DocumentRow).where(DocumentRow.tenant == tenant, DocumentRow.collection == collection)
            ) or 0


def _deleted_since(connection, document_id: str, when: datetime | None) -> datetime | None:
    if when is None:
        return None
    at = connection.execute(_DELETED_AT, {"document_id": document_id}).scalar()
    return at if at is not None and at >= when else None
