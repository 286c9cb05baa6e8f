"""The document catalog: which documents exist, their versions and extracted texts, and the corpus version."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from core.db import (
    CollectionRow,
    CorpusVersionRow,
    Database,
    DocumentRow,
    DocumentVersionRow,
    IndexEntryRow,
    utcnow,
)
from core.types import ParsedDocument


@dataclass(frozen=True)
class DocumentVersion:
    """What ingestion decided for one document: its version and whether anything must be (re)indexed."""

    version: int
    unchanged: bool
    replaces: bool


class CollectionMismatch(ValueError):
    """The collection was built with another embedder or chunk settings; mixing them would corrupt search."""


class DocumentCatalog:
    def __init__(self, db: Database):
        self.db = db

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

    def plan(self, document_id: str, strategy: str, content_hash: str) -> DocumentVersion:
        with self.db.session() as s:
            entry = s.get(IndexEntryRow, (document_id, strategy))
            if entry is not None and entry.content_hash == content_hash:
                return DocumentVersion(entry.version, unchanged=True, replaces=False)
            document = s.get(DocumentRow, document_id)
            if document is None:
                version = 1
            elif document.content_hash == content_hash:
                version = document.version
            else:
                version = document.version + 1
            return DocumentVersion(version, unchanged=False, replaces=entry is not None)

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
    ) -> None:
        with self.db.session() as s:
            document = s.get(DocumentRow, document_id)
            if document is None:
                document = DocumentRow(id=document_id, tenant=tenant, collection=collection, source=source)
                s.add(document)
            document.filename = filename
            document.title = parsed.title
            document.mime_type = parsed.mime_type
            document.size_bytes = size_bytes
            document.content_hash = content_hash
            document.version = version
            if s.get(DocumentVersionRow, (document_id, version)) is None:
                s.execute(
                    DocumentVersionRow.__table__.update()
                    .where(DocumentVersionRow.document_id == document_id, DocumentVersionRow.retired_at.is_(None))
                    .values(retired_at=utcnow())
                )
                s.add(DocumentVersionRow(document_id=document_id, version=version, content_hash=content_hash, text=parsed.text))
            entry = s.get(IndexEntryRow, (document_id, strategy))
            if entry is None:
                s.add(IndexEntryRow(document_id=document_id, strategy=strategy, content_hash=content_hash, version=version, chunks=chunks))
            else:
                entry.content_hash, entry.version, entry.chunks = content_hash, version, chunks

    def get(self, tenant: str, document_id: str) -> DocumentRow | None:
        with self.db.session() as s:
            row = s.get(DocumentRow, document_id)
            return row if row is not None and row.tenant == tenant else None

    def index_entries(self, document_id: str) -> list[IndexEntryRow]:
        with self.db.session() as s:
            return list(s.scalars(select(IndexEntryRow).where(IndexEntryRow.document_id == document_id)))

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

    def remove(self, document_id: str) -> None:
        with self.db.session() as s:
            s.execute(delete(IndexEntryRow).where(IndexEntryRow.document_id == document_id))
            s.execute(
                DocumentVersionRow.__table__.update()
                .where(DocumentVersionRow.document_id == document_id, DocumentVersionRow.retired_at.is_(None))
                .values(retired_at=utcnow())
            )
            s.execute(delete(DocumentRow).where(DocumentRow.id == document_id))

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
