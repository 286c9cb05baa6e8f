"""Asking the answer service from an HTTP route: its errors as API errors, and an answer streamed sentence by
sentence (server-sent events) while it is worked out on a thread of its own."""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Iterator

from api.errors import ApiError
from core.access import Principal
from core.vectorstore import DocumentFilter
from retrieval.answer import Answer, AnswerService, UnknownConversation

log = logging.getLogger("cairn.api")


def ask(answers: AnswerService, who: Principal, collection: str, question: str, top_k: int | None, filters: DocumentFilter,
        history: list[str] | None = None, conversation_id: str | None = None, new_conversation: bool = False,
        instructions: str | None = None, on_sentence=None, replies: list[str | None] | None = None) -> Answer:
    """The answer service's answer, its errors as API errors; `collection` is known already (known_collection)."""
    try:
        return answers.answer(
            question, tenant=who.tenant, collection=collection, top_k=top_k, api_key_id=who.key_id, history=history,
            conversation_id=conversation_id, new_conversation=new_conversation, instructions=instructions,
            on_sentence=on_sentence, where=filters, replies=replies,
        )
    except UnknownConversation as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    except ValueError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None


def sse(event: str, data: dict | str) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False) if not isinstance(data, str) else data}\n\n"


def streamed(answer_with: Callable[[Callable[[str], None]], Answer]) -> Iterator[tuple[str, object]]:
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


def answer_events(answer_with: Callable[[Callable[[str], None]], Answer]) -> Iterator[str]:
    """/v1/answer's server-sent events: a `delta` per sentence, then `answer` (the whole object), then `done`."""
    for kind, value in streamed(answer_with):
        if kind == "delta":
            yield sse("delta", {"text": value})
        elif kind == "answer":
            yield sse("answer", value.as_dict())
        else:
            yield sse("error", {"error": {"code": "answer_failed", "message": str(value)}})
    yield sse("done", "[DONE]")
