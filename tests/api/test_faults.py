"""Injected faults against the real services, through the real app: Redis, the database, the LLM endpoint and a
Qdrant server go away, and each gives the documented behaviour (README, "Graceful failure")."""

from __future__ import annotations

import socket
import threading
import time

import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from benchmarks.faults import TcpProxy
from core.settings import Settings
from ingest.pipeline import IngestTarget
from tests.conftest import REDIS_URL, open_root
from tests.fake_openai import FakeOpenAI
from tests.retrieval.test_answer import HEALTH_Q, SPEECH

# A few paragraphs of the State of the Union (a small index keeps these tests fast).
EXCERPT = "\n\n".join(SPEECH.read_text(encoding="utf-8").split("\n\n")[100:125])


def ingest_speech(runtime) -> None:
    path = runtime.settings.resolved_data_dir / "speech-excerpt.md"
    path.write_text(EXCERPT, encoding="utf-8")
    target = IngestTarget(runtime.settings.tenant, runtime.settings.collection, runtime.settings.chunking.strategy)
    assert runtime.ingest.ingest(path, display=path.name, source=str(path), target=target).status.value == "indexed"


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def test_redis_down_questions_are_answered_and_uploads_get_a_clear_503(tmp_path, bge, parser, redis_url):
    proxy = TcpProxy("127.0.0.1", int(REDIS_URL.rsplit(":", 1)[1].split("/")[0]))
    settings = Settings(data_dir=tmp_path / "data", redis_url=f"redis://127.0.0.1:{proxy.port}/11", _env_file=None)
    try:
        with open_root(settings, bge, parser) as runtime:
            ingest_speech(runtime)
            key = runtime.keys.create(settings.tenant, "editor", "uploader")[1]
            headers = {"Authorization": f"Bearer {key}"}
            with TestClient(create_app(runtime)) as client:
                upload = lambda: client.post("/v1/documents", files=[("file", ("a.txt", b"some text"))], headers=headers)  # noqa: E731
                assert upload().status_code == 202  # queued in Redis
                assert client.get("/readyz").json()["status"] == "ready"

                proxy.cut()
                answer, _ = timed(lambda: client.post("/v1/answer", json={"question": HEALTH_Q}, headers=headers))
                assert answer.status_code == 200 and answer.json()["fallback"] is None  # rate limits and cache fail open
                for attempt in range(4):
                    refused, seconds = timed(upload)
                    assert refused.status_code == 503, refused.text
                    assert refused.json()["error"]["code"] == "unavailable" and "queue" in refused.json()["error"]["message"]
                    assert seconds < 15
                assert seconds < 1  # the breaker is open: no more waiting on Redis
                ready = client.get("/readyz")
                assert ready.status_code == 200 and ready.json()["status"] == "degraded"
                assert ready.json()["checks"]["queue"].startswith("error") and ready.json()["breakers"]["redis"] == "open"
                failed = [item for item in runtime.jobs.count_by_status().items() if item[0] == "failed"]
                assert failed and failed[0][1] >= 4  # nothing is silently lost: each refused upload is recorded failed
    finally:
        proxy.close()


def test_a_hanging_broker_does_not_stall_other_requests(tmp_path, bge, parser, redis_url):
    """An upload waiting on the broker (here Redis hangs for a few seconds) runs off the event loop: the server goes
    on answering other requests meanwhile, and the upload completes once Redis answers again."""
    proxy = TcpProxy("127.0.0.1", int(REDIS_URL.rsplit(":", 1)[1].split("/")[0]))
    settings = Settings(data_dir=tmp_path / "data", redis_url=f"redis://127.0.0.1:{proxy.port}/11", _env_file=None)
    try:
        with open_root(settings, bge, parser) as runtime, TestClient(create_app(runtime)) as client:
            upload = lambda: client.post("/v1/documents", files=[("file", ("a.txt", b"some text"))])  # noqa: E731
            assert upload().status_code == 202  # connected to Redis through the proxy

            proxy.stall()
            outcome = {}
            waiting = threading.Thread(target=lambda: outcome.update(response=upload()))
            waiting.start()
            time.sleep(1.0)
            assert waiting.is_alive()  # the upload is waiting on Redis
            health, seconds = timed(lambda: client.get("/healthz"))
            assert health.status_code == 200 and seconds < 0.5
            assert waiting.is_alive()  # ... and was still waiting while the health check was served
            proxy.resume()
            waiting.join(30)
            assert outcome["response"].status_code == 202, outcome["response"].text
    finally:
        proxy.close()


def test_database_down_is_a_quick_503_and_readiness_says_so(tmp_path, bge, parser, postgres_server_url):
    engine = sa.create_engine(postgres_server_url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    host_port = postgres_server_url.split("@", 1)[1].split("/", 1)[0]
    proxy = TcpProxy(host_port.split(":")[0], int(host_port.split(":")[1]))
    proxied = postgres_server_url.replace(host_port, f"127.0.0.1:{proxy.port}")
    settings = Settings(data_dir=tmp_path / "data", database_url=proxied, _env_file=None)
    try:
        with open_root(settings, bge, parser) as runtime, TestClient(create_app(runtime)) as client:
            ingest_speech(runtime)
            assert client.post("/v1/answer", json={"question": HEALTH_Q}).status_code == 200

            proxy.cut()
            time.sleep(2.5)  # longer than the open API's cached "no key exists": search must not need its refresh
            for route, body in (("/v1/answer", {"question": HEALTH_Q}), ("/v1/search", {"query": HEALTH_Q})):
                response, seconds = timed(lambda: client.post(route, json=body))
                if route == "/v1/search":  # search reads only the index: it goes on without the database
                    assert response.status_code == 200, response.text
                    continue
                assert response.status_code == 503 and response.json()["error"]["code"] == "unavailable", response.text
                assert "database" in response.json()["error"]["message"] and seconds < 10
            for _ in range(3):
                response, seconds = timed(lambda: client.post("/v1/answer", json={"question": HEALTH_Q}))
                assert response.status_code == 503 and "database" in response.json()["error"]["message"]
            assert seconds < 0.5  # the breaker is open: no more waiting on connections
            ready = client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith("error")
            assert ready.json()["breakers"]["database"] == "open"
            assert client.get("/healthz").status_code == 200
    finally:
        proxy.close()


def test_llm_down_gives_extractive_answers_and_the_breaker_stops_calling_it(tmp_path, bge, parser):
    with FakeOpenAI(lambda request: "500") as llm:
        settings = Settings(
            data_dir=tmp_path / "data", answer={"generator": "llm"}, breakers={"failures": 2, "reset_s": 60},
            llm={"base_url": llm.base_url, "model": "fake-model", "max_retries": 0, "timeout_s": 2}, _env_file=None,
        )
        with open_root(settings, bge, parser) as runtime, TestClient(create_app(runtime)) as client:
            ingest_speech(runtime)
            for _ in range(4):
                answer = client.post("/v1/answer", json={"question": HEALTH_Q}).json()
                assert answer["fallback"]["reason"] == "llm_unavailable" and answer["generator"] == "extractive"
                assert answer["citations"] and "preexisting" in answer["answer"]
            assert len(llm.requests) == 2  # then the breaker opened: no more calls to a failing endpoint
            ready = client.get("/readyz").json()
            assert ready["status"] == "degraded" and ready["breakers"]["llm"] == "open"


def closed_port() -> int:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    return port


def test_qdrant_server_down_fails_fast_once_the_breaker_opens(tmp_path, bge, parser):
    port = closed_port()
    settings = Settings(data_dir=tmp_path / "data", qdrant={"url": f"http://127.0.0.1:{port}", "timeout_s": 2},
                        auth={"required": False}, _env_file=None)
    with open_root(settings, bge, parser) as runtime, TestClient(create_app(runtime)) as client:
        for _ in range(4):
            response, seconds = timed(lambda: client.post("/v1/search", json={"query": HEALTH_Q}))
            assert response.status_code == 503 and "Qdrant" in response.json()["error"]["message"]
        assert seconds < 0.5 and runtime.breakers["vector_store"].current_state == "open"
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["vector_store"].startswith("error")


def test_an_upload_meeting_a_dependency_failure_shows_it_waits_to_retry(tmp_path, bge, parser):
    """The Qdrant server is down while a file is ingested: the file is not failed, and its job shows it queued
    for a retry with the reason, instead of a stage it is no longer in."""
    settings = Settings(data_dir=tmp_path / "data", qdrant={"url": f"http://127.0.0.1:{closed_port()}", "timeout_s": 2},
                        auth={"required": False}, worker={"retry_base_s": 30}, _env_file=None)
    with open_root(settings, bge, parser) as runtime, TestClient(create_app(runtime)) as client:
        response = client.post("/v1/documents", files=[("file", ("excerpt.md", EXCERPT.encode()))])
        assert response.status_code == 202, response.text
        job = response.json()["job_id"]
        deadline = time.monotonic() + 60
        while (document := client.get(f"/v1/jobs/{job}").json()["documents"][0])["reason"] is None:
            assert time.monotonic() < deadline, document
            time.sleep(0.1)
        assert document["status"] == "queued", document
        assert document["reason"].startswith("waiting to retry: StoreUnavailable: Qdrant is unreachable"), document
        assert client.get(f"/v1/jobs/{job}").json()["status"] == "queued"
