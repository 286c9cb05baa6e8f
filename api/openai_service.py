"""The OpenAI-compatible routes' service: /v1/models, /v1/embeddings and /v1/chat/completions over Cairn's own
services, in the wire format of `api.openai_compat`."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

from api.answering import ask, streamed
from api.errors import ApiError
from api.openai_compat import (
    DEFAULT_MODEL,
    EXTRACTIVE_MODEL,
    UnknownModel,
    chat_turns,
    collection_of,
    embedding_texts,
    embeddings,
    error_body,
    models,
    now,
    response_model,
    usage_of,
)
from api.schemas import MAX_QUESTION_CHARS, ChatRequest, EmbeddingRequest
from core.access import Principal
from core.embedders import CachedEmbedder
from core.settings import GeneratorName, Settings
from core.vectorstore import DocumentFilter
from ingest.catalog import DocumentCatalog
from retrieval.answer import Answer, AnswerService

MAX_EMBEDDING_INPUTS = 256


class OpenAIService:
    """The OpenAI wire format over Cairn's services: what /v1/models, /v1/embeddings and /v1/chat/completions do."""

    def __init__(self, settings: Settings, catalog: DocumentCatalog, embedder: CachedEmbedder, answers: AnswerService):
        self.settings = settings
        self.catalog = catalog
        self.embedder = embedder
        self.answers = answers

    def models(self, tenant: str) -> dict:
        """One model per collection of the tenant (`cairn` is the default collection, `cairn/<collection>` the
        others); a chat request's `model` picks the collection that answers."""
        return models([c.name for c in self.catalog.collections(tenant)], self.settings.collection, now())

    def model(self, tenant: str, model_id: str) -> dict:
        found = next((m for m in self.models(tenant)["data"] if m["id"] == model_id), None)
        if found is None:
            raise ApiError(404, "model_not_found", str(UnknownModel(model_id)))
        return found

    def collection_of(self, tenant: str, model: str | None) -> str:
        known = {c.name for c in self.catalog.collections(tenant)}
        try:
            return collection_of(model, known, self.settings.collection)
        except UnknownModel as exc:
            raise ApiError(404, "model_not_found", str(exc)) from None

    def embeddings(self, body: EmbeddingRequest) -> dict:
        """Embeddings with the deployment's embedder (the one its index uses)."""
        try:
            texts = embedding_texts(body.input)
        except ValueError as exc:
            raise ApiError(422, "invalid_request", str(exc)) from None
        if not texts or len(texts) > MAX_EMBEDDING_INPUTS or any(not t or len(t) > 20_000 for t in texts):
            raise ApiError(422, "invalid_request",
                           f"input must be 1 to {MAX_EMBEDDING_INPUTS} non-empty texts of at most 20,000 characters")
        embedder = self.embedder
        if body.model not in (None, "", DEFAULT_MODEL, embedder.model_id):
            raise ApiError(404, "model_not_found", f"the embedding model here is `{embedder.model_id}` (or `cairn`)")
        if body.dimensions not in (None, embedder.dim):
            raise ApiError(422, "invalid_request", f"this embedder makes {embedder.dim}-dimensional vectors")
        # The model itself, not the ingestion cache: arbitrary texts sent here should not fill the index's cache.
        return embeddings(embedder.inner.embed_documents(texts), embedder.model_id, texts,
                          as_base64=body.encoding_format == "base64")

    def chat(self, body: ChatRequest, who: Principal, collection: str | None) -> dict | Iterator[str]:
        """The last user message answered from the knowledge base (`collection`, known already, else the one the
        model names), the earlier ones as the conversation, system messages as instructions: a chat.completion, or
        with `stream`, the SSE lines of its chunks. `citations` and `cairn` (confidence, fallback, answer id) are
        added to the response."""
        turns = chat_turns(body.messages)
        questions = [question for question, _ in turns]
        instructions = [m.text().strip() for m in body.messages if m.role in ("system", "developer") and m.text().strip()]
        if not questions:
            raise ApiError(422, "invalid_request", "messages must contain a user message with text")
        if len(questions[-1]) > MAX_QUESTION_CHARS:
            raise ApiError(422, "invalid_request", f"the last user message is longer than {MAX_QUESTION_CHARS} characters")
        collection = collection or self.collection_of(who.tenant, body.model)

        def answer_with(on_sentence=None) -> Answer:
            # The earlier turns are the conversation, with the assistant's replies (what "it" or "that team" is).
            return ask(self.answers, who, collection, questions[-1], None, DocumentFilter(), history=questions[:-1],
                       instructions="\n\n".join(instructions) or None, on_sentence=on_sentence,
                       replies=[reply for _, reply in turns[:-1]])

        created = int(time.time())

        def extras(result: Answer) -> dict:
            return {
                "usage": usage_of(result, questions[-1]),
                "citations": [c.__dict__ for c in result.citations],
                "cairn": {"answer_id": result.id, "confidence": result.confidence, "review_id": result.review_id,
                          "fallback": result.fallback.__dict__ if result.fallback else None,
                          "calibration": result.calibration, "standalone_question": result.standalone_question,
                          "timings_ms": result.timings_ms,
                          # A system message is recorded with the answer; only an LLM's answer follows it (after
                          # Cairn's own grounding rules), the extractive one quotes the sources as they are.
                          "system_prompt_applied": result.instructions_applied if instructions else None},
            }

        if not body.stream:
            result = answer_with()
            return {
                "id": f"chatcmpl-{result.id}", "object": "chat.completion", "created": created,
                "model": response_model(result),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": result.answer}, "finish_reason": "stop"}],
                **extras(result),
            }
        completion_id = f"chatcmpl-{uuid.uuid4()}"
        # Chunks go out before the answer is complete: they name the generator that is meant to write it.
        expected = self.settings.llm.model if self.settings.answer.generator == GeneratorName.LLM else EXTRACTIVE_MODEL

        def chunk(delta: dict, finish: str | None = None, model: str = expected, **extra) -> str:
            payload = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
            return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

        def events() -> Iterator[str]:
            yield chunk({"role": "assistant", "content": ""})
            for kind, value in streamed(answer_with):
                if kind == "delta":
                    yield chunk({"content": value})
                elif kind == "answer":
                    yield chunk({}, "stop", model=response_model(value), **extras(value))
                else:
                    yield f"data: {json.dumps(error_body(500, 'answer_failed', str(value)))}\n\n"
            yield "data: [DONE]\n\n"

        return events()
