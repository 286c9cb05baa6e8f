"""The OpenAI-compatible routes through the real `openai` SDK (its own request and error handling): models, plain
and streamed chat, embeddings, OpenAI's error shape, and a placeholder key while the API is open."""

from __future__ import annotations

import numpy as np
import openai
import pytest

from tests.conftest import speech_app

QUESTION = "Which country is Putin invading, causing chaos in Europe and beyond?"


@pytest.fixture(scope="module")
def sdk(tmp_path_factory, bge, parser):
    with speech_app(tmp_path_factory.mktemp("openai-sdk") / "data", bge, parser) as client:
        # The SDK always sends a key; the open API must ignore it rather than answer 401.
        yield openai.OpenAI(base_url="http://testserver/v1", api_key="sk-placeholder", http_client=client, max_retries=0)


def test_models_list_one_model_per_collection(sdk):
    assert [m.id for m in sdk.models.list().data] == ["cairn"]
    assert sdk.models.retrieve("cairn").owned_by == "cairn"
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("gpt-4o")


def test_chat_plain_and_streamed(sdk):
    reply = sdk.chat.completions.create(model="cairn", messages=[{"role": "user", "content": QUESTION}])
    assert "Ukraine" in reply.choices[0].message.content and reply.model == "cairn-extractive"
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    pieces = list(sdk.chat.completions.create(model="cairn", messages=[{"role": "user", "content": QUESTION}], stream=True))
    streamed = "".join(p.choices[0].delta.content or "" for p in pieces if p.choices)
    assert streamed == reply.choices[0].message.content and pieces[-1].choices[0].finish_reason == "stop"


def test_unknown_model_and_bad_requests_come_in_openai_error_shape(sdk):
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.chat.completions.create(model="cairn/nowhere", messages=[{"role": "user", "content": QUESTION}])
    assert missing.value.code == "model_not_found" and missing.value.type == "invalid_request_error"
    with pytest.raises(openai.UnprocessableEntityError) as bad:
        sdk.chat.completions.create(model="cairn", messages=[{"role": "system", "content": "no question"}])
    assert bad.value.body["type"] == "invalid_request_error" and "user message" in bad.value.body["message"]


def test_embeddings(sdk):
    out = sdk.embeddings.create(model="cairn", input=["insulin prices", "the border"])
    vectors = np.array([d.embedding for d in out.data])
    assert vectors.shape == (2, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    assert out.usage.prompt_tokens > 0 and out.model.startswith("bge")
    with pytest.raises(openai.NotFoundError):
        sdk.embeddings.create(model="text-embedding-3-small", input="x")
