"""The answer routes through the real app: JSON and server-sent events, the OpenAI-compatible chat endpoint, the
answer log and the review queue."""

from __future__ import annotations

import json
import socket
import time

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.settings import Settings
from tests.conftest import open_root, speech_app

QUESTION = "Which country is Putin invading, causing chaos in Europe and beyond?"
GOLD = (1039, 1145)


@pytest.fixture(scope="module")
def client(tmp_path_factory, bge, parser):
    with speech_app(tmp_path_factory.mktemp("answer-api") / "data", bge, parser) as test_client:
        yield test_client


def events(response) -> list[tuple[str, str]]:
    parsed = []
    for block in response.text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        parsed.append((fields.get("event", "message"), fields["data"]))
    return parsed


def test_answer_json_stream_and_audit_record(client):
    body = client.post("/v1/answer", json={"question": QUESTION}).json()
    assert body["fallback"] is None and "Ukraine" in body["answer"]
    assert any(c["start"] < GOLD[1] and GOLD[0] < c["end"] for c in body["citations"])  # a quote overlapping the gold
    assert set(body) >= {"id", "citations", "confidence", "review_id", "generator", "corpus_version", "usage", "timings_ms"}
    assert client.get(f"/v1/answers/{body['id']}").json()["answer"] == body["answer"]
    assert client.get("/v1/answers/nope").status_code == 404

    # A question not asked before (a cached answer has no sentences to stream: it comes in one piece).
    streamed = client.post("/v1/answer", json={"question": "What is the average federal tax rate of billionaires?",
                                               "stream": True})
    assert streamed.headers["content-type"].startswith("text/event-stream")
    parsed = events(streamed)
    assert [name for name, _ in parsed][-2:] == ["answer", "done"]
    final = json.loads(parsed[-2][1])
    deltas = [json.loads(data)["text"] for name, data in parsed if name == "delta"]
    assert "".join(deltas) == final["answer"] and len(deltas) == len(final["citations"])  # a sentence each, as chosen
    assert 0 < final["timings_ms"]["first_sentence"] <= final["timings_ms"]["total"]


def test_fallback_enters_the_review_queue_and_is_resolved(client):
    body = client.post("/v1/answer", json={"question": "What is the recipe for a classic margarita cocktail?"}).json()
    assert body["fallback"]["reason"] == "low_confidence" and body["review_id"]
    queue = client.get("/v1/review").json()
    assert [item["id"] for item in queue] == [body["review_id"]]
    assert client.post(f"/v1/review/{body['review_id']}", json={"action": "edit"}).status_code == 422  # edit needs text
    done = client.post(f"/v1/review/{body['review_id']}", json={"action": "edit", "answer": "Out of scope."})
    assert done.json()["status"] == "edited" and client.get("/v1/review").json() == []
    assert client.post("/v1/review/nope", json={"action": "approve"}).status_code == 404


def test_a_part_nothing_answers_does_not_sink_the_part_that_is_answered(client):
    """Asked together, a part the speech answers and one it does not: the answer quotes the first and says the
    second is not covered, instead of abstaining on both (the whole question matches no sentence well)."""
    question = "What did President Biden say about insulin costs, and what did he say about colonizing Mars?"
    body = client.post("/v1/answer", json={"question": question}).json()
    assert body["fallback"] is None, body["fallback"]
    assert any("insulin" in c["quote"] for c in body["citations"])
    assert body["answer"].endswith("The sources found do not cover: what did he say about colonizing Mars.")
    assert body["signals"]["best_logit"] > 0  # the signals recorded are the answered part's, as the confidence read


def test_chat_completions_is_openai_shaped_with_citations(client):
    request = {"model": "cairn", "messages": [{"role": "system", "content": "be nice"}, {"role": "user", "content": QUESTION}]}
    body = client.post("/v1/chat/completions", json=request).json()
    assert body["object"] == "chat.completion" and body["choices"][0]["message"]["role"] == "assistant"
    assert "Ukraine" in body["choices"][0]["message"]["content"] and body["citations"][0]["quote"]
    assert body["cairn"]["confidence"] >= 0.5 and set(body["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}

    streamed = client.post("/v1/chat/completions", json=request | {"stream": True})
    lines = [line.removeprefix("data: ") for line in streamed.text.split("\n\n") if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(line) for line in lines[:-1]]
    content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert content == body["choices"][0]["message"]["content"] and chunks[-1]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize(
    "payload",
    [{"question": ""}, {"question": "x", "top_k": 0}, {"nothing": 1}],
)
def test_bad_answer_requests_are_422(client, payload):
    response = client.post("/v1/answer", json=payload)
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request"


def test_chat_without_a_user_message_is_422(client):
    response = client.post("/v1/chat/completions", json={"messages": [{"role": "system", "content": "hi"}]})
    assert response.status_code == 422 and "user message" in response.json()["error"]["message"]


def test_vector_store_down_is_a_quick_503(tmp_path, bge, parser):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    settings = Settings(data_dir=tmp_path / "data", qdrant={"url": f"http://127.0.0.1:{port}", "timeout_s": 2},
                        auth={"required": False}, _env_file=None)
    with open_root(settings, bge, parser) as runtime, TestClient(create_app(runtime)) as down:
        started = time.monotonic()
        for route, body in (("/v1/answer", {"question": QUESTION}), ("/v1/search", {"query": QUESTION})):
            response = down.post(route, json=body)
            assert response.status_code == 503 and response.json()["error"]["code"] == "unavailable", response.text
            assert "Qdrant" in response.json()["error"]["message"]
        assert time.monotonic() - started < 10
