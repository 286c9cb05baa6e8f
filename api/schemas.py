"""Request and response models of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.access import Role
from core.vectorstore import DocumentFilter
from retrieval.search import SearchHit


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
    tags: list[str] = Field(default_factory=list)
    chunks: int = Field(0, description="chunks in the index (the largest of its strategies' indexes)")


class DocumentText(BaseModel):
    document_id: str
    version: int
    title: str
    source: str
    text: str = Field(description="the extracted text: every citation's quote is text[start:end] of it")


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


# -- search and answers ----------------------------------------------------------------------------------------
class SearchRequest(StrictBody):
    query: str = Field(min_length=1, max_length=4000)
    top_k: int = Field(default=10, ge=1, le=100)
    collection: str | None = None
    strategy: str | None = None
    rerank: bool | None = Field(default=None, strict=True, description="cross-encoder reranking; default from the settings")
    filters: DocumentFilter = Field(default_factory=DocumentFilter, description="which documents may be read (within the caller's tenant)")


class SearchResponse(BaseModel):
    results: list[SearchHit]
    timings_ms: dict[str, float] = Field(default_factory=dict)


MAX_QUESTION_CHARS = 4000
# Paging: an offset beyond this is refused (422), not passed to SQL, where a 64-bit overflow is a server error.
MAX_OFFSET = 1_000_000_000


class AnswerRequest(StrictBody):
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    collection: str | None = None
    filters: DocumentFilter = Field(default_factory=DocumentFilter, description="which documents may be read (within the caller's tenant)")
    top_k: int | None = Field(default=None, ge=1, le=50, description="passages read; default from the settings")
    stream: bool = Field(default=False, strict=True, description="server-sent events: `delta` pieces, then `answer`, then `done`")
    conversation_id: str | None = Field(default=None, max_length=64, description="continue this conversation (its "
                                        "earlier turns make a follow-up self-contained); omitted: a new one starts")
    history: list[str] = Field(default_factory=list, max_length=50, description="earlier questions, oldest first, "
                               "for a client that keeps the conversation itself")


class FeedbackRequest(StrictBody):
    answer_id: str = Field(min_length=1, max_length=64)
    rating: Literal["up", "down"]
    comment: str | None = Field(default=None, max_length=4000)
    correction: str | None = Field(default=None, max_length=20000, description="what the answer should have said")


class FeedbackReceipt(BaseModel):
    id: str
    answer_id: str
    rating: str
    review_id: str | None = Field(description="set when the feedback put the answer in the review queue")


class ReviewItem(BaseModel):
    id: str
    answer_id: str
    question: str
    reason: str
    status: str
    answer: str | None = Field(None, description="the answer or fallback as it was given")
    citations: list[dict] = Field(default_factory=list)
    closest_sources: list[dict] = Field(default_factory=list, description="of a fallback: the best passage of each document")
    confidence: float | None = None
    resolution: str | None = Field(None, description="the reviewer's corrected answer or note")


class ReviewDecision(StrictBody):
    action: Literal["approve", "edit", "reject"]
    answer: str | None = Field(default=None, max_length=20000, description="the corrected answer (edit)")
    comment: str | None = Field(default=None, max_length=4000)


# -- the OpenAI-compatible routes --------------------------------------------------------------------------------
class EmbeddingRequest(BaseModel):
    input: str | list[str] | list[int] | list[list[int]] = Field(
        description="a text, a list of texts, or cl100k token arrays (as langchain's OpenAIEmbeddings sends)")
    model: str | None = None
    encoding_format: Literal["float", "base64"] | None = Field(
        default=None, description="base64: little-endian float32 bytes, as the openai SDK asks by default")
    user: str | None = None
    dimensions: int | None = Field(default=None, description="must be the embedder's own, if given")

    model_config = {"extra": "forbid"}


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict] | None = None

    model_config = {"extra": "allow"}  # name, tool_calls, tool_call_id...

    def text(self) -> str:
        if isinstance(self.content, list):
            return " ".join(part.get("text", "") for part in self.content if part.get("type") == "text")
        return self.content or ""


# OpenAI's chat-completion parameters: accepted (SDKs and front ends send them), with no effect on an answer from
# the knowledge base; any other field is refused like on every route.
OPENAI_CHAT_PARAMETERS = frozenset({
    "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs", "max_completion_tokens",
    "max_tokens", "metadata", "modalities", "n", "parallel_tool_calls", "prediction", "presence_penalty",
    "prompt_cache_key", "reasoning_effort", "response_format", "safety_identifier", "seed", "service_tier", "stop",
    "store", "stream_options", "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "user", "verbosity",
    "web_search_options",
})
MAX_CHAT_MESSAGES = 200
MAX_CHAT_CHARS = 100_000  # all messages together


class ChatRequest(BaseModel):
    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_CHAT_MESSAGES)
    stream: bool = Field(default=False, strict=True)
    collection: str | None = Field(default=None, description="Cairn extension: which collection answers")

    model_config = {"extra": "allow"}

    @model_validator(mode="after")
    def _known_fields_and_size(self) -> "ChatRequest":
        unknown = sorted(set(self.model_extra or {}) - OPENAI_CHAT_PARAMETERS)
        if unknown:
            raise ValueError(f"unknown fields: {', '.join(unknown)}")
        if sum(len(m.text()) for m in self.messages) > MAX_CHAT_CHARS:
            raise ValueError(f"the messages hold more than {MAX_CHAT_CHARS} characters together")
        return self


# -- operations ------------------------------------------------------------------------------------------------
class KeyRequest(StrictBody):
    name: str = Field(min_length=1, max_length=200)
    role: Role = Role.READER


class KeyInfo(BaseModel):
    id: str
    name: str
    tenant: str
    role: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None
    key: str | None = Field(default=None, description="the key itself: returned once, at creation")


class CalibrationRequest(StrictBody):
    max_false_abstention: float = Field(default=0.05, ge=0.0, le=1.0, description="answerable questions that may abstain")
