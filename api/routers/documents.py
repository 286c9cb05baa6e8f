"""Documents: upload (queued for ingestion), list, show, delete."""

from __future__ import annotations

import json
import re
import shutil
import uuid
from pathlib import Path, PurePath
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile, status
from starlette.concurrency import run_in_threadpool

from api.deps import RuntimeDep, SettingsDep, Editor, Reader
from api.errors import ApiError
from api.schemas import DocumentDetail, DocumentIndex, DocumentPage, DocumentSummary, UploadAccepted, UploadedDocument
from core.types import DocumentLabels, document_id_for
from ingest.archive import is_archive
from ingest.parsing.formats import is_supported
from workers.jobs import FileToIngest
from workers.submit import submit, validate_target

router = APIRouter(prefix="/v1/documents", tags=["documents"])
_UNSAFE = re.compile(r"[^\w.\- ]+")


def safe_filename(name: str | None) -> str:
    """The last path component, without control or shell characters; never empty, never a dot-file trick."""
    base = PurePath((name or "").replace("\\", "/")).name
    cleaned = _UNSAFE.sub("_", base).strip(" .")
    return cleaned[:200] or "upload"


def _summary(row) -> DocumentSummary:
    return DocumentSummary(
        document_id=row.id, collection=row.collection, source=row.source, title=row.title, version=row.version,
        content_hash=row.content_hash, updated_at=row.updated_at,
    )


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=UploadAccepted)
async def upload(
    request: Request,
    runtime: RuntimeDep,
    settings: SettingsDep,
    who: Editor,
    file: Annotated[list[UploadFile], File(description="One or more files")],
    metadata: Annotated[
        str | None,
        Form(description="JSON object: `source` (the document identity), `tags` (list of strings), `date` (ISO 8601)"),
    ] = None,
    collection: Annotated[str | None, Form()] = None,
    strategy: Annotated[str | None, Form()] = None,
) -> UploadAccepted:
    collection = collection or settings.collection
    strategy = strategy or settings.chunking.strategy
    try:
        validate_target(collection, strategy)
        meta = json.loads(metadata) if metadata else {}
        if not isinstance(meta, dict):
            raise ValueError("metadata must be a JSON object")
        labels = DocumentLabels.parse(meta)
    except (ValueError, json.JSONDecodeError) as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    folder = settings.resolved_data_dir / "uploads" / uuid.uuid4().hex
    folder.mkdir(parents=True, exist_ok=True)
    files: list[FileToIngest] = []
    try:
        for position, upload_file in enumerate(file):
            name = safe_filename(upload_file.filename)
            if not (is_supported(name) or is_archive(name)):
                raise ApiError(415, "unsupported_media_type", f"{name}: this file type is not supported")
            target = folder / f"{position:04d}_{name}"
            await _save_bounded(upload_file, target, name, settings.ingest.max_file_bytes)
            source = str(meta.get("source") or f"upload://{name}") if len(file) == 1 else f"upload://{name}"
            files.append(FileToIngest(display=name, stored_path=str(target), source=source, labels=labels))
    except ApiError:
        await run_in_threadpool(shutil.rmtree, folder, ignore_errors=True)
        raise
    # The job store's transaction and the broker publish block: off the event loop, like the file writes.
    job_id = await run_in_threadpool(submit, runtime, files, tenant=who.tenant, collection=collection, strategy=strategy)
    documents = [
        UploadedDocument(
            document_id=None if is_archive(f.display) else document_id_for(who.tenant, collection, f.source), filename=f.display
        )
        for f in files
    ]
    return UploadAccepted(job_id=job_id, documents=documents, status_url=str(request.url_for("job_status", job_id=job_id)))


async def _save_bounded(upload_file: UploadFile, target: Path, name: str, limit: int) -> None:
    written = 0
    sink = await run_in_threadpool(target.open, "wb")
    try:
        while block := await upload_file.read(1 << 20):
            written += len(block)
            if written > limit:
                raise ApiError(413, "too_large", f"{name}: larger than the limit of {limit} bytes")
            await run_in_threadpool(sink.write, block)
    finally:
        await run_in_threadpool(sink.close)


@router.get("", response_model=DocumentPage)
def list_documents(
    runtime: RuntimeDep,
    who: Reader,
    collection: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> DocumentPage:
    rows = runtime.catalog.list(who.tenant, collection, limit=limit, offset=offset)
    return DocumentPage(documents=[_summary(r) for r in rows], limit=limit, offset=offset)


@router.get("/{document_id}", response_model=DocumentDetail)
def show_document(document_id: str, runtime: RuntimeDep, who: Reader) -> DocumentDetail:
    row = runtime.catalog.get(who.tenant, document_id)
    if row is None:
        raise ApiError(404, "not_found", f"no document {document_id}")
    indexes = [DocumentIndex(strategy=e.strategy, version=e.version, chunks=e.chunks) for e in runtime.catalog.index_entries(row.id)]
    return DocumentDetail(
        **_summary(row).model_dump(), filename=row.filename, mime_type=row.mime_type, size_bytes=row.size_bytes, indexes=indexes
    )


@router.delete("/{document_id}", status_code=status.HTTP_200_OK)
def delete_document(document_id: str, runtime: RuntimeDep, who: Editor) -> dict:
    if not runtime.ingest.delete(who.tenant, document_id):
        raise ApiError(404, "not_found", f"no document {document_id}")
    return {"document_id": document_id, "deleted": True}
