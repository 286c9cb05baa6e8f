"""The API is strict and explicit: unknown collections 404, unknown fields and filter keys 422, strict booleans,
capped chat requests, rate limits before validation, review decisions taken once, the review queue by status."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.settings import Settings
from tests.conftest import open_root, speech_app

CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def client(tmp_path_factory, bge, parser):
    with speech_app(tmp_path_factory.mktemp("strict-api") / "data", bge, parser) as test_client:
        yield test_client


def error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


def test_an_unknown_collection_is_404_and_queues_nothing_for_review(client):
    for path, body in (("/v1/search", {"query": "insulin"}), ("/v1/answer", {"question": "What about insulin?"}),
                       (CHAT, {"messages": [{"role": "user", "content": "What about insulin?"}]})):
        assert error(client.post(path, json=body | {"collection": "nope"}), 404)["code"] == "unknown_collection"
    assert client.get("/v1/review").json() == []
    assert client.post("/v1/search", json={"query": "insulin"}).status_code == 200  # the default one is known


@pytest.mark.parametrize(
    ("path", "body", "complaint"),
    [
        ("/v1/search", {"query": "insulin", "filters": {"tag": ["hr"]}}, "tag"),
        ("/v1/search", {"query": "insulin", "topk": 3}, "topk"),
        ("/v1/search", {"query": "insulin", "rerank": "true"}, "rerank"),
        ("/v1/answer", {"question": "insulin?", "stream": "yes"}, "stream"),
        ("/v1/answer", {"question": "insulin?", "filters": {"sources": ["a"], "owner": "me"}}, "owner"),
        ("/v1/feedback", {"answer_id": "x", "rating": "up", "stars": 5}, "stars"),
        (CHAT, {"messages": [{"role": "user", "content": "insulin?"}], "stream": "yes"}, "stream"),
        (CHAT, {"messages": [{"role": "user", "content": "insulin?"}], "temprature": 0.2}, "temprature"),
        (CHAT, {"messages": [{"role": "user", "content": "x" * 4001}]}, "4000"),
        (CHAT, {"messages": [{"role": "assistant", "content": "y" * 60_000}] * 2
                + [{"role": "user", "content": "insulin?"}]}, "100000"),
    ],
)
def test_unknown_fields_loose_booleans_and_oversized_chats_are_422(client, path, body, complaint):
    found = error(client.post(path, json=body), 422)
    assert found["code"] == "invalid_request" and complaint in found["message"]


def test_openai_parameters_are_accepted_on_chat(client):
    body = {"model": "cairn", "messages": [{"role": "user", "content": "What does the speech say about insulin?"}],
            "temperature": 0.2, "max_tokens": 200, "top_p": 1, "n": 1, "user": "someone"}
    assert client.post(CHAT, json=body).status_code == 200


def test_review_items_are_listed_by_status_with_their_answer_and_resolved_once(client):
    asked = [client.post("/v1/answer", json={"question": q}).json()
             for q in ("What is the recipe for a classic margarita cocktail?", "How do penguins keep their eggs warm?")]
    assert all(a["review_id"] for a in asked)
    before = [i["id"] for i in client.get("/v1/review").json()]  # earlier tests' fallbacks wait too, oldest first
    pending = client.get("/v1/review", params={"status": "pending"}).json()
    assert [i["id"] for i in pending][-2:] == [a["review_id"] for a in asked] and [i["id"] for i in pending] == before
    first = pending[-2]
    assert first["answer"] == asked[0]["answer"] and first["closest_sources"]
    documents = [s["document_id"] for s in first["closest_sources"]]
    assert len(documents) == len(set(documents))  # each document once
    page = client.get("/v1/review", params={"limit": 1, "offset": len(pending) - 1}).json()
    assert [i["id"] for i in page] == [asked[1]["review_id"]]

    decided = client.post(f"/v1/review/{first['id']}", json={"action": "approve"})
    assert decided.status_code == 200 and decided.json()["status"] == "approved"
    assert error(client.post(f"/v1/review/{first['id']}", json={"action": "reject"}), 409)["code"] == "already_resolved"
    assert [i["id"] for i in client.get("/v1/review", params={"status": "approved"}).json()] == [first["id"]]
    assert [i["id"] for i in client.get("/v1/review").json()] == [i for i in before if i != first["id"]]
    assert client.get("/v1/review", params={"status": "lost"}).status_code == 422
    assert client.post(f"/v1/review/{first['id']}", json={"action": "approve", "why": "x"}).status_code == 422


def test_a_caller_over_its_rate_limit_gets_429_before_its_body_is_checked(tmp_path, bge, parser):
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)
    settings.limits.per_key = "2/minute"
    with open_root(settings, bge, parser) as runtime, TestClient(create_app(runtime)) as client:
        key = client.post("/v1/keys", json={"name": "ops", "role": "admin"}).json()["key"]
        headers = {"Authorization": f"Bearer {key}"}
        assert client.post("/v1/search", json={"nonsense": True}, headers=headers).status_code == 422
        assert client.post("/v1/search", json={"query": "x"}, headers=headers).status_code == 200
        limited = client.post("/v1/search", json={"nonsense": True}, headers=headers)
        assert error(limited, 429)["code"] == "rate_limited" and int(limited.headers["Retry-After"]) >= 1


@pytest.mark.parametrize("route", ["/v1/documents", "/v1/review"])
def test_an_offset_too_large_for_sql_is_a_422(client, route):
    """Found by the fuzz test: 2**63 reached SQLite and overflowed (a 500)."""
    assert error(client.get(route, params={"offset": 2**63}), 422)["code"] == "invalid_request"
    assert client.get(route, params={"offset": 1_000_000_000}).status_code == 200
