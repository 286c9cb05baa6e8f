"""The OpenAI-compatible routes through real clients (the `openai` SDK, `langchain-openai`, an SSE client), with their
own request and error handling: models, plain and streamed chat, a two-turn conversation, embeddings, OpenAI's error
shape, and a placeholder key while the API is open."""

from __future__ import annotations

import json

import numpy as np
import openai
import pytest
from httpx_sse import connect_sse

from tests.conftest import speech_app

QUESTION = "Which country is Putin invading, causing chaos in Europe and beyond?"


@pytest.fixture(scope="module")
def http(tmp_path_factory, bge, parser):
    """The app over HTTP (an httpx client): what every client below sends its requests through."""
    with speech_app(tmp_path_factory.mktemp("openai-sdk") / "data", bge, parser) as client:
        yield client


@pytest.fixture(scope="module")
def sdk(http):
    # The SDK always sends a key; the open API must ignore it rather than answer 401.
    return openai.OpenAI(base_url="http://testserver/v1", api_key="sk-placeholder", http_client=http, max_retries=0)


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


def test_a_two_turn_conversation_through_the_sdk(sdk):
    messages = [{"role": "user", "content": "What does the State of the Union say about insulin?"}]
    first = sdk.chat.completions.create(model="cairn", messages=messages)
    messages += [{"role": "assistant", "content": first.choices[0].message.content},
                 {"role": "user", "content": "And what does it cost to make?"}]
    second = sdk.chat.completions.create(model="cairn", messages=messages)
    assert "10 bucks to make" in second.choices[0].message.content
    assert "insulin" in second.model_extra["cairn"]["standalone_question"]


def test_langchain_openai_chat_and_embeddings(http):
    from langchain_core.messages import AIMessage, HumanMessage
    from langchain_openai import ChatOpenAI, OpenAIEmbeddings

    chat = ChatOpenAI(model="cairn", base_url="http://testserver/v1", api_key="sk-placeholder", http_client=http,
                      max_retries=0)
    assert "Ukraine" in chat.invoke(QUESTION).content
    assert "Ukraine" in "".join(chunk.content for chunk in chat.stream(QUESTION))
    follow = chat.invoke([HumanMessage("What does the State of the Union say about insulin?"), AIMessage("..."),
                          HumanMessage("And what does it cost to make?")])
    assert "10 bucks to make" in follow.content
    # OpenAIEmbeddings sends token arrays by default (cl100k): they are decoded and embedded like texts.
    embeddings = OpenAIEmbeddings(model="cairn", base_url="http://testserver/v1", api_key="sk-placeholder",
                                  http_client=http, max_retries=0)
    vectors = embeddings.embed_documents(["insulin prices", "the border"])
    assert len(vectors) == 2 and len(vectors[0]) == 384
    assert np.dot(vectors[0], embeddings.embed_query("insulin prices")) > 0.99


def test_the_answer_stream_through_an_sse_client(http):
    with connect_sse(http, "POST", "http://testserver/v1/answer", json={"question": QUESTION, "stream": True}) as source:
        events = [(event.event, event.data) for event in source.iter_sse()]
    names = [name for name, _ in events]
    assert names[0] == "delta" and names[-2:] == ["answer", "done"]
    final = json.loads(events[-2][1])
    assert "".join(json.loads(data)["text"] for name, data in events if name == "delta") == final["answer"]
