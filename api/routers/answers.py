"""Answers: ask (JSON or server-sent events), the OpenAI-compatible chat endpoint, the answer log, the review queue."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse, StreamingResponse

from api.answering import answer_events, ask
from api.deps import (
    AnswerLogDep,
    AnswersDep,
    CatalogDep,
    ConversationsDep,
    Editor,
    OpenAIDep,
    Reader,
    ReviewDep,
    SettingsDep,
    known_collection,
)
from api.errors import ApiError
from api.schemas import (
    MAX_OFFSET,
    AnswerRequest,
    ChatRequest,
    EmbeddingRequest,
    FeedbackReceipt,
    FeedbackRequest,
    ReviewDecision,
    ReviewItem,
)
from retrieval.answer import Answer
from retrieval.audit import Asker
from retrieval.review import REVIEW_STATUSES, AlreadyResolved, NotFound

router = APIRouter(prefix="/v1", tags=["answers"])


@router.post(
    "/answer",
    response_model=Answer,
    responses={200: {"content": {"text/event-stream": {}}, "description": "an Answer, or with stream: true, events"}},
)
def answer(body: AnswerRequest, answers: AnswersDep, catalog: CatalogDep, conversations: ConversationsDep,
           settings: SettingsDep, who: Reader):
    """An Answer; with `stream: true`, server-sent events: a `delta` for each sentence as soon as it has passed the
    support check (with the LLM generator, while the model writes the rest), then `answer` (the whole object, with
    `timings_ms.first_sentence`), then `done`."""
    collection = known_collection(settings, catalog, who, body.collection)
    # A streamed request has its 200 before the service runs: an unknown conversation must fail before that.
    if body.stream and body.conversation_id is not None and not conversations.exists(who.tenant, body.conversation_id):
        raise ApiError(404, "not_found", f"no conversation {body.conversation_id}")

    def answer_with(on_sentence=None) -> Answer:
        return ask(answers, who, collection, body.question, body.top_k, body.filters, body.history,
                   body.conversation_id, new_conversation=body.conversation_id is None, on_sentence=on_sentence)

    if not body.stream:
        return answer_with()
    return StreamingResponse(answer_events(answer_with), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


@router.get("/conversations/{conversation_id}")
def conversation(conversation_id: str, conversations: ConversationsDep, log: AnswerLogDep, who: Reader) -> dict:
    """A stored conversation: its turns (as asked and as made self-contained), each with its answer."""
    found = conversations.get(who.tenant, conversation_id)
    if found is None:
        raise ApiError(404, "not_found", f"no conversation {conversation_id}")
    for turn in found["turns"]:
        record = log.record(who.tenant, turn["answer_id"]) or {}
        turn.update(answer=record.get("answer"), citations=record.get("citations", []), confidence=record.get("confidence"),
                    fallback=record.get("fallback"))
    return found


@router.get("/answers/{answer_id}")
def answer_record(answer_id: str, log: AnswerLogDep, who: Reader) -> dict:
    """The audit record: the Answer as given, plus tenant, API key id, model, retrieved chunks with their scores,
    time, and the feedback and review it received."""
    record = log.record(who.tenant, answer_id)
    if record is None:
        raise ApiError(404, "not_found", f"no answer {answer_id}")
    return record


@router.post("/feedback", response_model=FeedbackReceipt, status_code=201)
def feedback(body: FeedbackRequest, review: ReviewDep, who: Reader):
    """A thumbs-down or a correction puts the answer in the review queue."""
    try:
        row, review_id = review.feedback(Asker(who.tenant, who.key_id), body.answer_id, body.rating,
                                         body.comment, body.correction)
    except NotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    return FeedbackReceipt(id=row.id, answer_id=row.answer_id, rating=row.rating, review_id=review_id)


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
    review: ReviewDep,
    who: Editor,
    status: Annotated[Literal[REVIEW_STATUSES], Query(description="which items")] = "pending",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
):
    """Review items of one status (oldest first), each with the answer as given, its citations and the closest
    sources."""
    return [_review_item(row, body) for row, body in review.items(who.tenant, status, limit, offset)]


@router.get("/review/export", response_class=PlainTextResponse, responses={200: {"content": {"application/x-ndjson": {}}}})
def review_export(who: Editor, review: ReviewDep):
    """Approved and corrected answers as an eval dataset: JSONL that `cairn eval ragas` reads."""
    lines = [json.dumps(item, ensure_ascii=False) for item in review.export(who.tenant)]
    return PlainTextResponse("".join(line + "\n" for line in lines), media_type="application/x-ndjson")


@router.post("/review/{review_id}", response_model=ReviewItem)
def review_decide(review_id: str, body: ReviewDecision, review: ReviewDep, who: Editor):
    status = {"approve": "approved", "edit": "edited", "reject": "rejected"}[body.action]
    try:
        row = review.resolve(
            who.tenant, review_id, status, body.answer if body.action == "edit" else body.comment, who.key_id
        )
    except AlreadyResolved as exc:
        raise ApiError(409, "already_resolved", str(exc)) from None
    except ValueError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    if row is None:
        raise ApiError(404, "not_found", f"no review item {review_id}")
    return _review_item(row, None)


@router.get("/models")
def list_models(openai: OpenAIDep, who: Reader) -> dict:
    """OpenAI-compatible: one model per collection of the caller's tenant (`cairn` is the default collection,
    `cairn/<collection>` the others); a chat request's `model` picks the collection that answers."""
    return openai.models(who.tenant)


@router.get("/models/{model_id:path}")
def show_model(model_id: str, openai: OpenAIDep, who: Reader) -> dict:
    return openai.model(who.tenant, model_id)


@router.post("/embeddings")
def embeddings(body: EmbeddingRequest, openai: OpenAIDep, who: Reader) -> dict:
    """OpenAI-compatible embeddings with the deployment's embedder (the one its index uses)."""
    return openai.embeddings(body)


@router.post(
    "/chat/completions",
    responses={200: {"content": {"application/json": {}, "text/event-stream": {}},
                     "description": "a chat.completion, or with stream: true, chat.completion.chunk events"}},
)
def chat_completions(body: ChatRequest, openai: OpenAIDep, catalog: CatalogDep, settings: SettingsDep, who: Reader):
    """OpenAI-compatible: the last user message is answered from the knowledge base; `citations` and `cairn` (the
    confidence, fallback and answer id) are added to the response."""
    # `model` names a collection the tenant has (or the default); the `collection` extension is checked like anywhere.
    collection = known_collection(settings, catalog, who, body.collection) if body.collection else None
    result = openai.chat(body, who, collection)
    if isinstance(result, dict):
        return result
    return StreamingResponse(result, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
