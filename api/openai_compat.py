"""The OpenAI-compatible surface: models (one per collection), chat completions and embeddings shaped as OpenAI's
SDKs and chat front ends expect, and errors in OpenAI's shape on those routes."""

from __future__ import annotations

import base64
import functools
import time

import numpy as np

DEFAULT_MODEL = "cairn"
MODEL_PREFIX = "cairn/"
EXTRACTIVE_MODEL = "cairn-extractive"
OPENAI_PATHS = ("/v1/chat/completions", "/v1/models", "/v1/embeddings")
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "invalid_request_error", 409: "invalid_request_error", 413: "invalid_request_error",
                422: "invalid_request_error", 429: "rate_limit_error"}


class UnknownModel(LookupError):
    def __init__(self, model: str):
        super().__init__(f"The model `{model}` does not exist. GET /v1/models lists the models of this knowledge base "
                         f"({DEFAULT_MODEL} for the default collection, {MODEL_PREFIX}<collection> for another).")
        self.model = model


def model_name(collection: str, default_collection: str) -> str:
    return DEFAULT_MODEL if collection == default_collection else MODEL_PREFIX + collection


def models(collections: list[str], default_collection: str, created: int) -> dict:
    """One model per collection the tenant has, the default collection's as `cairn` (listed even while empty)."""
    names = [DEFAULT_MODEL] + sorted(MODEL_PREFIX + c for c in set(collections) if c != default_collection)
    return {"object": "list",
            "data": [{"id": name, "object": "model", "created": created, "owned_by": "cairn"} for name in names]}


def collection_of(model: str | None, known: set[str], default_collection: str) -> str:
    """The collection a request's `model` names; UnknownModel for a name that is not one of /v1/models."""
    if model in (None, "", DEFAULT_MODEL):
        return default_collection
    if model.startswith(MODEL_PREFIX) and model[len(MODEL_PREFIX):] in known | {default_collection}:
        return model[len(MODEL_PREFIX):]
    raise UnknownModel(model)


@functools.lru_cache(maxsize=1)
def _encoding():
    import tiktoken

    return tiktoken.get_encoding("cl100k_base")  # shipped with llama-index-core (core.offline points at it)


def count_tokens(text: str) -> int:
    return len(_encoding().encode(text, disallowed_special=()))


def usage_of(answer, question: str) -> dict:
    """The LLM's own token counts when it wrote the answer; otherwise the question's and the answer's tokens
    (cl100k), so that clients that budget by usage see what went in and out."""
    if answer.usage.input_tokens or answer.usage.output_tokens:
        prompt, completion = answer.usage.input_tokens, answer.usage.output_tokens
    else:
        prompt, completion = count_tokens(question), count_tokens(answer.answer)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def chat_turns(messages) -> list[tuple[str, str | None]]:
    """The conversation's turns: each user message with text, and the assistant's last reply to it (None when the
    conversation holds none before the next user message)."""
    turns: list[tuple[str, str | None]] = []
    for message in messages:
        text = message.text().strip()
        if message.role == "user" and text:
            turns.append((text, None))
        elif message.role == "assistant" and text and turns:
            turns[-1] = (turns[-1][0], text)
    return turns


def embedding_texts(given) -> list[str]:
    """The texts of an embeddings request: a text, texts, or token arrays (decoded with cl100k, the encoding OpenAI
    clients count with)."""
    if isinstance(given, str):
        return [given]
    if given and all(isinstance(x, int) for x in given):
        return [_decode(given)]
    return [x if isinstance(x, str) else _decode(x) for x in given]


def _decode(tokens: list[int]) -> str:
    """ValueError for ids that are not cl100k tokens (a clear 422, not a crash in the tokenizer)."""
    encoding = _encoding()
    if not all(0 <= t < encoding.n_vocab for t in tokens):
        raise ValueError(f"token ids must be cl100k tokens (0 to {encoding.n_vocab - 1})")
    try:
        return encoding.decode(tokens)
    except (KeyError, ValueError, OverflowError):
        raise ValueError("the token ids are not a valid cl100k sequence") from None


def response_model(answer) -> str:
    return EXTRACTIVE_MODEL if answer.generator == "extractive" else answer.generator


def embeddings(vectors, model: str, inputs: list[str], as_base64: bool = False) -> dict:
    prompt = sum(count_tokens(text) for text in inputs)

    def encoded(vector):
        if as_base64:
            return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
        return [float(x) for x in vector]

    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": encoded(v)} for i, v in enumerate(vectors)],
        "model": model,
        "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
    }


def error_body(status: int, code: str, message: str, param: str | None = None) -> dict:
    kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def now() -> int:
    return int(time.time())



