"""Request and response models of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from core.types import timestamp_of


class UploadedDocument(BaseModel):
    document_id: str | None
    filename: str
    status: str = Field(description="accepted (queued), rejected or conflict")
    reason: str | None = Field(None, description="why a file was not accepted: `<code>: <message>`")


class UploadAccepted(BaseModel):
    job_id: str
    documents: list[UploadedDocument]
    status_url: str


class JobDocument(BaseModel):
    path: str
    document_id: str | None
    status: str
    chunks: int
    reason: str | None
    parent: str | None = None


class JobStatus(BaseModel):
    job_id: str
    status: str
    progress: float
    documents: list[JobDocument]
    error: str | None


class DocumentSummary(BaseModel):
    document_id: str
    collection: str
    source: str
    title: str
    version: int
    content_hash: str
    updated_at: datetime


class DocumentIndex(BaseModel):
    strategy: str
    version: int
    chunks: int


class DocumentVersionInfo(BaseModel):
    version: int
    content_hash: str
    created_at: datetime
    retired_at: datetime | None = Field(description="when a newer version replaced it; null for the live one")
    written_by: str | None = Field(description="the API key id that wrote it (null: open API or the CLI)")


class DocumentDetail(DocumentSummary):
    filename: str
    mime_type: str
    size_bytes: int
    indexes: list[DocumentIndex]
    versions: list[DocumentVersionInfo]


class PurgeReport(BaseModel):
    document_id: str
    deleted: bool = Field(description="the document existed and was erased")
    answers_redacted: int = Field(description="past answer records whose quotes of it were redacted")


class DocumentPage(BaseModel):
    documents: list[DocumentSummary]
    limit: int
    offset: int


class StrictBody(BaseModel):
    """A request body: unknown fields are refused (422), so a misspelt option never silently does nothing."""

    model_config = ConfigDict(extra="forbid")


class Filters(StrictBody):
    """Metadata filters of search and answer requests (the tenant filter is always applied on top)."""

    document_ids: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list, description="documents with any of these tags")
    date_from: str | None = Field(default=None, description="ISO 8601; documents dated on or after")
    date_to: str | None = Field(default=None, description="ISO 8601; documents dated on or before")

    def as_query(self) -> dict:
        """Keyword arguments of retrieval.search.Query; ValueError on a date that is not ISO 8601."""
        return {
            "document_ids": tuple(self.document_ids),
            "sources": tuple(self.sources),
            "tags": tuple(self.tags),
            "date_from": timestamp_of(self.date_from) if self.date_from else None,
            "date_to": timestamp_of(self.date_to) if self.date_to else None,
        }


class EvalOptions(StrictBody):
    variants: list[str] | None = Field(None, description="chunking: STRATEGY-SIZE-OVERLAP names; default all variants")
    corpora: list[str] | None = Field(None, description="chunking: corpus ids (file stems); default all")
    modes: list[str] | None = Field(None, description="beir: dense, sparse, hybrid, hybrid+rerank")
    limit: int | None = Field(None, ge=1, description="only the first N questions")
    k: int | None = Field(None, ge=1, le=100, description="chunking: returned chunks scored at a fixed count")
    budget: int | None = Field(None, ge=16, le=100_000, description="chunking: token budget scored")
    llm_judge: bool | None = Field(None, strict=True, description="chunking: also LLM-judged context precision (needs an LLM endpoint)")


class EvalRequest(StrictBody):
    suite: Literal["chunking", "beir"]
    dataset: str = Field(min_length=1, max_length=300, description="a folder below the deployment's eval datasets dir")
    options: EvalOptions = EvalOptions()


class EvalRun(BaseModel):
    id: str
    suite: str
    dataset: str
    options: dict
    status: str = Field(description="queued, running, succeeded or failed")
    result: dict | None = Field(None, description="results.json, once succeeded")
    error: str | None = None
    created_at: str
    finished_at: str | None = None
    files: list[str] = Field(default_factory=list, description="report.md, results.json and charts of the run")
    status_url: str


class EvalRunList(BaseModel):
    runs: list[EvalRun]
