"""Documents: upload (queued for ingestion), list, show, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile, status
from starlette.concurrency import run_in_threadpool

from api.deps import Admin, AnswerLogDep, CatalogDep, Editor, IngestDep, IntakeDep, Reader
from api.errors import ApiError
from api.schemas import (
    MAX_OFFSET,
    DocumentDetail,
    DocumentIndex,
    DocumentPage,
    DocumentSummary,
    DocumentText,
    DocumentVersionInfo,
    PurgeReport,
    UploadAccepted,
    UploadedDocument,
)
from retrieval.audit import purge
from workers.intake import IncomingFile, Intake

router = APIRouter(prefix="/v1/documents", tags=["documents"])


def _summary(row, chunks: int = 0) -> DocumentSummary:
    return DocumentSummary(
        document_id=row.id, collection=row.collection, source=row.source, title=row.title, version=row.version,
        content_hash=row.content_hash, updated_at=row.updated_at, tags=row.tags or [], chunks=chunks,
    )


def _accepted(request: Request, intake: Intake) -> UploadAccepted:
    return UploadAccepted(
        job_id=intake.job_id,
        documents=[UploadedDocument(document_id=f.document_id, filename=f.filename, status=f.status, reason=f.reason)
                   for f in intake.files],
        status_url=str(request.url_for("job_status", job_id=intake.job_id)),
    )


def _incoming(files: list[UploadFile]) -> list[IncomingFile]:
    return [IncomingFile(f.filename, f.file) for f in files]


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=UploadAccepted)
async def upload(
    request: Request,
    uploads: IntakeDep,
    who: Editor,
    file: Annotated[list[UploadFile], File(description="One or more files; each gets its own outcome")],
    metadata: Annotated[
        str | None,
        Form(description="JSON object: `source` (the document identity, one file only), `tags` (list of strings), "
                         "`date` (ISO 8601)"),
    ] = None,
    collection: Annotated[str | None, Form()] = None,
    strategy: Annotated[str | None, Form()] = None,
    replace: Annotated[
        bool, Form(description="replace a live document of the same name that has other content "
                                            "(otherwise that file's outcome is `conflict`)")
    ] = False,
) -> UploadAccepted:
    """Every file is checked on its own: `accepted` (queued), or `rejected` (unsupported_type, too_large,
    unsafe_name) or `conflict`, with the reason; a bad file never sinks the others."""
    try:  # file copies, the job store's transaction and the broker publish block: off the event loop
        intake = await run_in_threadpool(
            uploads.upload, _incoming(file), tenant=who.tenant, collection=collection, strategy=strategy,
            metadata=metadata, replace=replace, api_key_id=who.key_id,
        )
    except ValueError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    return _accepted(request, intake)


@router.put("/{document_id}", status_code=status.HTTP_202_ACCEPTED, response_model=UploadAccepted)
async def replace_document(
    document_id: str,
    request: Request,
    uploads: IntakeDep,
    who: Editor,
    file: Annotated[UploadFile, File(description="The document's new content")],
    strategy: Annotated[str | None, Form()] = None,
) -> UploadAccepted:
    """Replaces a document's content explicitly: the file becomes its next version (same id, same source)."""
    try:
        intake = await run_in_threadpool(uploads.replace, document_id, _incoming([file])[0], tenant=who.tenant,
                                         strategy=strategy, api_key_id=who.key_id)
    except ValueError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    if intake is None:
        raise ApiError(404, "not_found", f"no document {document_id}")
    return _accepted(request, intake)


@router.get("", response_model=DocumentPage)
def list_documents(
    catalog: CatalogDep,
    who: Reader,
    collection: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> DocumentPage:
    rows = catalog.list(who.tenant, collection, limit=limit, offset=offset)
    chunks = catalog.chunk_counts([r.id for r in rows])
    return DocumentPage(documents=[_summary(r, chunks.get(r.id, 0)) for r in rows], limit=limit, offset=offset)


@router.get("/{document_id}/text", response_model=DocumentText)
def document_text(document_id: str, catalog: CatalogDep, who: Reader,
                  version: Annotated[int | None, Query(ge=1, description="default: the live version")] = None) -> DocumentText:
    """The extracted text citations point into (a past version's too, while the document exists)."""
    row = catalog.get(who.tenant, document_id)
    text = catalog.text(document_id, version or row.version) if row is not None else None
    if text is None:
        raise ApiError(404, "not_found", f"no document {document_id}" + (f" version {version}" if version else ""))
    return DocumentText(document_id=row.id, version=version or row.version, title=row.title, source=row.source, text=text)


@router.get("/{document_id}", response_model=DocumentDetail)
def show_document(document_id: str, catalog: CatalogDep, who: Reader) -> DocumentDetail:
    row = catalog.get(who.tenant, document_id)
    if row is None:
        raise ApiError(404, "not_found", f"no document {document_id}")
    indexes = [DocumentIndex(strategy=e.strategy, version=e.version, chunks=e.chunks) for e in catalog.index_entries(row.id)]
    versions = [
        DocumentVersionInfo(version=v.version, content_hash=v.content_hash, created_at=v.created_at,
                            retired_at=v.retired_at, written_by=v.written_by)
        for v in catalog.versions(row.id)
    ]
    return DocumentDetail(
        **_summary(row, max((e.chunks for e in indexes), default=0)).model_dump(), filename=row.filename, mime_type=row.mime_type, size_bytes=row.size_bytes,
        indexes=indexes, versions=versions,
    )


@router.delete("/{document_id}", status_code=status.HTTP_200_OK)
def delete_document(document_id: str, ingest: IngestDep, who: Editor) -> dict:
    """Erases the document: its chunks, the text of every version, its stored uploads, the cached embeddings no
    other document uses. Past answers keep what they showed (see purge)."""
    if not ingest.delete(who.tenant, document_id):
        raise ApiError(404, "not_found", f"no document {document_id}")
    return {"document_id": document_id, "deleted": True}


@router.post("/{document_id}/purge", response_model=PurgeReport)
def purge_document(document_id: str, ingest: IngestDep, log: AnswerLogDep, who: Admin) -> PurgeReport:
    """Erases the document (if it still exists) and redacts its quotes in past answer records, keeping their ids
    and a hash of each quote."""
    deleted, redacted = purge(ingest, log, who.tenant, document_id)
    if not deleted and not redacted:
        raise ApiError(404, "not_found", f"no document {document_id}, and no answer quotes it")
    return PurgeReport(document_id=document_id, deleted=deleted, answers_redacted=redacted)
