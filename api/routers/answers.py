"""Answers: ask (JSON or server-sent events), the OpenAI-compatible chat endpoint, the answer log, the review queue."""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import BaseModel, Field, model_validator

from api import openai_compat
from api.deps import RuntimeDep, Editor, Reader, known_collection
from api.errors import ApiError
from api.schemas import Filters, StrictBody
from core.access import Principal
from retrieval.answer import Answer, UnknownConversation
from retrieval.audit import Asker
from retrieval.review import REVIEW_STATUSES, AlreadyResolved, NotFound

router = APIRouter(prefix="/v1", tags=["answers"])
log = logging.getLogger("cairn.api")


MAX_QUESTION_CHARS = 4000


class AnswerRequest(StrictBody):
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    collection: str | None = None
    filters: Filters = Field(default_factory=Filters)
    top_k: int | None = Field(default=None, ge=1, le=50, description="passages read; default from the settings")
    stream: bool = Field(default=False, strict=True, description="server-sent events: `delta` pieces, then `answer`, then `done`")
    conversation_id: str | None = Field(default=None, max_length=64, description="continue this conversation (its "
                                        "earlier turns make a follow-up self-contained); omitted: a new one starts")
    history: list[str] = Field(default_factory=list, max_length=50, description="earlier questions, oldest first, "
                               "for a client that keeps the conversation itself")


def _answer(runtime, who: Principal, collection: str, question: str, top_k: int | None, filters: Filters,
            history: list[str] | None = None, conversation_id: str | None = None, new_conversation: bool = False,
            instructions: str | None = None, on_sentence=None) -> Answer:
    """The answer service's answer, its errors as API errors; `collection` is known already (known_collection)."""
    try:
        return runtime.answers.answer(
            question, tenant=who.tenant, collection=collection, top_k=top_k, api_key_id=who.key_id, history=history,
            conversation_id=conversation_id, new_conversation=new_conversation, instructions=instructions,
            on_sentence=on_sentence, **filters.as_query()
        )
    except UnknownConversation as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    except ValueError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None


def _sse(event: str, data: dict | str) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False) if not isinstance(data, str) else data}\n\n"


def _streamed(answer_with: Callable[[Callable[[str], None]], Answer]) -> Iterator[tuple[str, object]]:
    """Runs `answer_with(on_sentence)` on a thread of its own and yields ("delta", text) for each sentence as the
    answer service releases it (checked against its sources), then ("answer", the Answer), or ("error", message).
    An answer that streamed nothing (a fallback, a cached answer) comes as one delta before it, so the deltas always
    add up to the answer's text."""
    events: queue.Queue = queue.Queue()
    sent: list[str] = []

    def on_sentence(part: str) -> None:
        events.put(("delta", part if not sent else " " + part))
        sent.append(part)

    def run() -> None:
        try:
            events.put(("answer", answer_with(on_sentence)))
        except Exception as exc:  # noqa: BLE001 - the client already has its 200: the failure is an event
            log.exception("a streamed answer failed")
            events.put(("error", getattr(exc, "detail", None) or f"{type(exc).__name__}: the answer failed"))

    threading.Thread(target=run, name="cairn-streamed-answer", daemon=True).start()
    while True:
        kind, value = events.get()
        if kind == "answer" and not sent:
            yield "delta", value.answer
        yield kind, value
        if kind in ("answer", "error"):
            return


@router.post(
    "/answer",
    response_model=Answer,
    responses={200: {"content": {"text/event-stream": {}}, "description": "an Answer, or with stream: true, events"}},
)
def answer(body: AnswerRequest, runtime: RuntimeDep, who: Reader):
    """An Answer; with `stream: true`, server-sent events: a `delta` for each sentence as soon as it has passed the
    support check (with the LLM generator, while the model writes the rest), then `answer` (the whole object, with
    `timings_ms.first_sentence`), then `done`."""
    collection = known_collection(runtime, who, body.collection)
    # A streamed request has its 200 before the service runs: an unknown conversation must fail before that.
    if body.stream and body.conversation_id is not None and not runtime.conversations.exists(who.tenant, body.conversation_id):
        raise ApiError(404, "not_found", f"no conversation {body.conversation_id}")

    def answer_with(on_sentence=None) -> Answer:
        return _answer(runtime, who, collection, body.question, body.top_k, body.filters, body.history,
                       body.conversation_id, new_conversation=body.conversation_id is None, on_sentence=on_sentence)

    if not body.stream:
        return answer_with()

    def events() -> Iterator[str]:
        for kind, value in _streamed(answer_with):
            if kind == "delta":
                yield _sse("delta", {"text": value})
            elif kind == "answer":
                yield _sse("answer", value.as_dict())
            else:
                yield _sse("error", {"error": {"code": "answer_failed", "message": str(value)}})
        yield _sse("done", "[DONE]")

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.get("/conversations/{conversation_id}")
def conversation(conversation_id: str, runtime: RuntimeDep, who: Reader) -> dict:
    """A stored conversation: its turns (as asked and as made self-contained), each with its answer."""
    found = runtime.conversations.get(who.tenant, conversation_id)
    if found is None:
        raise ApiError(404, "not_found", f"no conversation {conversation_id}")
    for turn in found["turns"]:
        record = runtime.answer_log.record(who.tenant, turn["answer_id"]) or {}
        turn.update(answer=record.get("answer"), citations=record.get("citations", []), confidence=record.get("confidence"),
                    fallback=record.get("fallback"))
    return found


@router.get("/answers/{answer_id}")
def answer_record(answer_id: str, runtime: RuntimeDep, who: Reader) -> dict:
    """The audit record: the Answer as given, plus tenant, API key id, model, retrieved chunks with their scores,
    time, and the feedback and review it received."""
    record = runtime.answer_log.record(who.tenant, answer_id)
    if record is None:
        raise ApiError(404, "not_found", f"no answer {answer_id}")
    return record


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


@router.post("/feedback", response_model=FeedbackReceipt, status_code=201)
def feedback(body: FeedbackRequest, runtime: RuntimeDep, who: Reader):
    """A thumbs-down or a correction puts the answer in the review queue."""
    try:
        row, review_id = runtime.review.feedback(Asker(who.tenant, who.key_id), body.answer_id, body.rating,
                                                 body.comment, body.correction)
    except NotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    return FeedbackReceipt(id=row.id, answer_id=row.answer_id, rating=row.rating, review_id=review_id)


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


def _review_item(row, body: dict | None) -> ReviewItem:
    body = body or {}
    return ReviewItem(
        id=row.id, answer_id=row.answer_id, question=row.question, reason=row.reason, status=row.status,
        answer=body.get("answer"), citations=body.get("citations") or [],
        closest_sources=(body.get("fallback") or {}).get("closest_sources") or [], confidence=body.get("confidence"),
        resolution=row.resolution,
    )


@router.get("/review", response_model=list[ReviewItem])
def review_queue(
    runtime: RuntimeDep,
    who: Editor,
    status: Annotated[Literal[REVIEW_STATUSES], Query(description="which items")] = "pending",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
):
    """Review items of one status (oldest first), each with the answer as given, its citations and the closest
    sources."""
    return [_review_item(row, body) for row, body in runtime.review.items(who.tenant, status, limit, offset)]


@router.get("/review/export", response_class=PlainTextResponse, responses={200: {"content": {"application/x-ndjson": {}}}})
def review_export(who: Editor, runtime: RuntimeDep):
    """Approved and corrected answers as an eval dataset: JSONL that `cairn eval ragas` reads."""
    lines = [json.dumps(item, ensure_ascii=False) for item in runtime.review.export(who.tenant)]
    return PlainTextResponse("".join(line + "\n" for line in lines), media_type="application/x-ndjson")


@router.post("/review/{review_id}", response_model=ReviewItem)
def review_decide(review_id: str, body: ReviewDecision, runtime: RuntimeDep, who: Editor):
    status = {"approve": "approved", "edit": "edited", "reject": "rejected"}[body.action]
    try:
        row = runtime.review.resolve(
            who.tenant, review_id, status, body.answer if body.action == "edit" else body.comment, who.key_id
        )
    except AlreadyResolved as exc:
        raise ApiError(409, "already_resolved", str(exc)) from None
    except ValueError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    if row is None:
        raise ApiError(404, "not_found", f"no review item {review_id}")
    return _review_item(row, None)


def _collection_of_model(runtime, who: Principal, model: str | None) -> str:
    known = {c.name for c in runtime.catalog.collections(who.tenant)}
    try:
        return openai_compat.collection_of(model, known, runtime.settings.collection)
    except openai_compat.UnknownModel as exc:
        raise ApiError(404, "model_not_found", str(exc)) from None


@router.get("/models")
def list_models(runtime: RuntimeDep, who: Reader) -> dict:
    """OpenAI-compatible: one model per collection of the caller's tenant (`cairn` is the default collection,
    `cairn/<collection>` the others); a chat request's `model` picks the collection that answers."""
    collections = [c.name for c in runtime.catalog.collections(who.tenant)]
    return openai_compat.models(collections, runtime.settings.collection, openai_compat.now())


@router.get("/models/{model_id:path}")
def show_model(model_id: str, runtime: RuntimeDep, who: Reader) -> dict:
    listed = list_models(runtime, who)["data"]
    found = next((m for m in listed if m["id"] == model_id), None)
    if found is None:
        raise ApiError(404, "model_not_found", str(openai_compat.UnknownModel(model_id)))
    return found


class EmbeddingRequest(BaseModel):
    input: str | list[str] | list[int] | list[list[int]] = Field(
        description="a text, a list of texts, or cl100k token arrays (as langchain's OpenAIEmbeddings sends)")
    model: str | None = None
    encoding_format: Literal["float", "base64"] | None = Field(
        default=None, description="base64: little-endian float32 bytes, as the openai SDK asks by default")
    user: str | None = None
    dimensions: int | None = Field(default=None, description="must be the embedder's own, if given")

    model_config = {"extra": "forbid"}


MAX_EMBEDDING_INPUTS = 256


@router.post("/embeddings")
def embeddings(body: EmbeddingRequest, runtime: RuntimeDep, who: Reader) -> dict:
    """OpenAI-compatible embeddings with the deployment's embedder (the one its index uses)."""
    try:
        texts = openai_compat.embedding_texts(body.input)
    except ValueError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    if not texts or len(texts) > MAX_EMBEDDING_INPUTS or any(not t or len(t) > 20_000 for t in texts):
        raise ApiError(422, "invalid_request",
                       f"input must be 1 to {MAX_EMBEDDING_INPUTS} non-empty texts of at most 20,000 characters")
    embedder = runtime.embedder
    if body.model not in (None, "", openai_compat.DEFAULT_MODEL, embedder.model_id):
        raise ApiError(404, "model_not_found", f"the embedding model here is `{embedder.model_id}` (or `cairn`)")
    if body.dimensions not in (None, embedder.dim):
        raise ApiError(422, "invalid_request", f"this embedder makes {embedder.dim}-dimensional vectors")
    # The model itself, not the ingestion cache: arbitrary texts sent here should not fill the index's cache.
    return openai_compat.embeddings(embedder.inner.embed_documents(texts), embedder.model_id, texts,
                                    as_base64=body.encoding_format == "base64")


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


@router.post(
    "/chat/completions",
    responses={200: {"content": {"application/json": {}, "text/event-stream": {}},
                     "description": "a chat.completion, or with stream: true, chat.completion.chunk events"}},
)
def chat_completions(body: ChatRequest, runtime: RuntimeDep, who: Reader):
    """OpenAI-compatible: the last user message is answered from the knowledge base; `citations` and `cairn` (the
    confidence, fallback and answer id) are added to the response."""
    questions = [m.text().strip() for m in body.messages if m.role == "user" and m.text().strip()]
    instructions = [m.text().strip() for m in body.messages if m.role in ("system", "developer") and m.text().strip()]
    if not questions:
        raise ApiError(422, "invalid_request", "messages must contain a user message with text")
    if len(questions[-1]) > MAX_QUESTION_CHARS:
        raise ApiError(422, "invalid_request", f"the last user message is longer than {MAX_QUESTION_CHARS} characters")
    # `model` names a collection the tenant has (or the default); the `collection` extension is checked like anywhere.
    collection = known_collection(runtime, who, body.collection) if body.collection else _collection_of_model(runtime, who, body.model)

    def answer_with(on_sentence=None) -> Answer:
        # The earlier user messages are the conversation: a follow-up is made self-contained from them.
        return _answer(runtime, who, collection, questions[-1], None, Filters(), history=questions[:-1],
                       instructions="\n\n".join(instructions) or None, on_sentence=on_sentence)

    created = int(time.time())

    def extras(result: Answer) -> dict:
        return {
            "usage": openai_compat.usage_of(result, questions[-1]),
            "citations": [c.__dict__ for c in result.citations],
            "cairn": {"answer_id": result.id, "confidence": result.confidence, "review_id": result.review_id,
                      "fallback": result.fallback.__dict__ if result.fallback else None,
                      "calibration": result.calibration, "standalone_question": result.standalone_question,
                      "timings_ms": result.timings_ms,
                      # A system message is recorded with the answer; only an LLM's answer follows it (after Cairn's
                      # own grounding rules), the extractive one quotes the sources as they are.
                      "system_prompt_applied": result.instructions_applied if instructions else None},
        }

    if not body.stream:
        result = answer_with()
        return {
            "id": f"chatcmpl-{result.id}", "object": "chat.completion", "created": created,
            "model": openai_compat.response_model(result),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": result.answer}, "finish_reason": "stop"}],
            **extras(result),
        }
    completion_id = f"chatcmpl-{uuid.uuid4()}"
    # Chunks go out before the answer is complete: they name the generator that is meant to write it.
    expected = runtime.settings.llm.model if runtime.settings.answer.generator == "llm" else openai_compat.EXTRACTIVE_MODEL

    def chunk(delta: dict, finish: str | None = None, model: str = expected, **extra) -> str:
        payload = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

    def events() -> Iterator[str]:
        yield chunk({"role": "assistant", "content": ""})
        for kind, value in _streamed(answer_with):
            if kind == "delta":
                yield chunk({"content": value})
            elif kind == "answer":
                yield chunk({}, "stop", model=openai_compat.response_model(value), **extras(value))
            else:
                yield f"data: {json.dumps(openai_compat.error_body(500, 'answer_failed', str(value)))}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
