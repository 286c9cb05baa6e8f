"""Operations through the real app: API keys and roles, tenants that cannot see each other, feedback and review end
to end with the export, rate limits (on real Redis), Prometheus metrics, the cost projection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.ratelimit import RateLimiter
from core.settings import LimitSettings, Settings
from eval import answers as answer_eval
from retrieval.audit import Asker
from tests.conftest import DOCS, ROOT, open_root, wait_status
from tests.retrieval.test_answer import HEALTH_Q, OFF_TOPIC, SPEECH

OPEN_ROUTES = {"/healthz", "/readyz"}


@pytest.fixture(scope="module")
def app(tmp_path_factory, bge, parser):
    """acme holds the State of the Union, globex a memo; keys for each role."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("ops") / "data", _env_file=None)
    with open_root(settings, bge, parser) as runtime:
        keys = {}
        for tenant in ("acme", "globex"):
            for role in ("reader", "editor", "admin"):
                keys[tenant, role] = runtime.keys.create(tenant, role, f"{tenant} {role}")[1]
        with TestClient(create_app(runtime)) as client:
            for tenant, path in (("acme", SPEECH), ("globex", DOCS / "fake-memo.pdf")):
                response = client.post("/v1/documents", files=[("file", (path.name, path.read_bytes()))],
                                       headers=auth(keys[tenant, "editor"]))
                assert response.status_code == 202, response.text
                job = wait_status(_Authed(client, keys[tenant, "editor"]), response.json()["status_url"])
                assert job["documents"][0]["status"] == "indexed", job
            yield client, runtime, keys


def auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


class _Authed:
    """A client that sends one key with every request."""

    def __init__(self, client, key):
        self.client, self.headers = client, auth(key)

    def get(self, url, **kw):
        return self.client.get(url, headers=self.headers, **kw)

    def post(self, url, **kw):
        return self.client.post(url, headers=self.headers, **kw)

    def delete(self, url, **kw):
        return self.client.delete(url, headers=self.headers, **kw)


def as_(app, tenant, role):
    client, _, keys = app
    return _Authed(client, keys[tenant, role])


def test_every_route_but_health_needs_a_valid_key(app):
    client, runtime, keys = app
    routes = [(path, method) for path, item in client.get("/openapi.json").json()["paths"].items() for method in item]
    assert len(routes) > 20
    for path, method in routes:
        url = path.replace("{", "").replace("}", "")  # any value for path parameters
        response = client.request(method.upper(), url)
        if path in OPEN_ROUTES:
            assert response.status_code in (200, 503), path
            continue
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["error"]["code"] == "unauthorized"
        bad = client.request(method.upper(), url, headers={"X-API-Key": "cairn_not-a-key"})
        assert bad.status_code == 401, (method, path)


def test_roles_limit_what_a_key_may_do(app):
    reader, editor, admin = (as_(app, "acme", role) for role in ("reader", "editor", "admin"))
    assert reader.post("/v1/search", json={"query": "Ukraine"}).status_code == 200
    forbidden = [
        (reader, "post", "/v1/documents"), (reader, "delete", "/v1/documents/x"), (reader, "get", "/v1/review"),
        (reader, "get", "/v1/review/export"), (reader, "post", "/v1/evals"), (editor, "get", "/metrics"),
        (editor, "get", "/v1/keys"), (editor, "get", "/v1/cost"), (editor, "get", "/v1/drift"),
    ]
    for who, method, url in forbidden:
        response = getattr(who, method)(url)
        assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden", (url, response.text)
    assert editor.get("/v1/review").status_code == 200
    assert admin.get("/metrics").status_code == 200

    created = admin.post("/v1/keys", json={"name": "temp", "role": "reader"}).json()
    assert created["tenant"] == "acme" and created["key"].startswith("cairn_")
    temp = _Authed(app[0], created["key"])
    assert temp.get("/v1/documents").status_code == 200
    assert admin.delete(f"/v1/keys/{created['id']}").json()["revoked"]
    assert temp.get("/v1/documents").status_code == 401  # revoked at once
    assert all(k["key"] is None for k in admin.get("/v1/keys").json())  # a key is shown once, at creation


def test_tenants_cannot_reach_each_others_data(app):
    acme, globex = as_(app, "acme", "admin"), as_(app, "globex", "admin")
    answer = acme.post("/v1/answer", json={"question": HEALTH_Q}).json()
    assert answer["fallback"] is None
    off = acme.post("/v1/answer", json={"question": OFF_TOPIC}).json()
    acme_doc = acme.get("/v1/documents").json()["documents"][0]["document_id"]

    assert globex.get(f"/v1/answers/{answer['id']}").status_code == 404
    assert globex.post("/v1/feedback", json={"answer_id": answer["id"], "rating": "down"}).status_code == 404
    assert globex.get(f"/v1/documents/{acme_doc}").status_code == 404
    assert globex.delete(f"/v1/documents/{acme_doc}").status_code == 404
    assert acme.get(f"/v1/documents/{acme_doc}").status_code == 200  # still there
    assert [d["source"] for d in globex.get("/v1/documents").json()["documents"]] == ["upload://fake-memo.pdf"]
    hits = globex.post("/v1/search", json={"query": HEALTH_Q, "top_k": 20}).json()["results"]
    assert all(h["document_id"] != acme_doc for h in hits)
    theirs = globex.post("/v1/answer", json={"question": HEALTH_Q}).json()
    assert all(c["document_id"] != acme_doc for c in theirs["citations"])
    assert off["review_id"] not in {r["id"] for r in globex.get("/v1/review").json()}
    assert globex.post(f"/v1/review/{off['review_id']}", json={"action": "approve"}).status_code == 404
    acme_keys = {k["id"] for k in acme.get("/v1/keys").json()}
    assert not acme_keys & {k["id"] for k in globex.get("/v1/keys").json()}
    assert globex.delete(f"/v1/keys/{next(iter(acme_keys))}").status_code == 404


def test_feedback_and_review_flow_end_to_end_and_export(app, tmp_path):
    _, runtime, _ = app
    reader, editor = as_(app, "acme", "reader"), as_(app, "acme", "editor")
    good = reader.post("/v1/answer", json={"question": HEALTH_Q}).json()
    off = reader.post("/v1/answer", json={"question": OFF_TOPIC}).json()
    assert off["review_id"] and off["fallback"]["reason"] == "low_confidence"

    up = reader.post("/v1/feedback", json={"answer_id": good["id"], "rating": "up"})
    assert up.status_code == 201 and up.json()["review_id"] is None
    down = reader.post("/v1/feedback", json={"answer_id": good["id"], "rating": "down", "comment": "needs the number",
                                             "correction": "Over 100 million Americans."}).json()
    assert down["review_id"]
    assert reader.post("/v1/feedback", json={"answer_id": good["id"], "rating": "meh"}).status_code == 422
    assert reader.post("/v1/feedback", json={"answer_id": "nope", "rating": "up"}).status_code == 404

    pending = {item["id"]: item for item in editor.get("/v1/review").json()}
    assert pending[down["review_id"]]["reason"] == "negative_feedback"
    assert editor.post(f"/v1/review/{down['review_id']}", json={"action": "edit", "answer": "Over 100 million Americans."}).status_code == 200
    assert editor.post(f"/v1/review/{off['review_id']}", json={"action": "approve"}).json()["status"] == "approved"
    record = reader.get(f"/v1/answers/{good['id']}").json()
    assert [f["rating"] for f in record["feedback"]] == ["up", "down"] and record["review"]["status"] == "edited"

    export = editor.get("/v1/review/export")
    assert export.headers["content-type"].startswith("application/x-ndjson")
    items = {item["answer_id"]: item for item in map(json.loads, export.text.splitlines())}
    assert items[good["id"]]["reference"] == "Over 100 million Americans." and items[good["id"]]["answerable"]
    assert items[off["id"]] == {**items[off["id"]], "question": OFF_TOPIC, "answerable": False}
    dataset = tmp_path / "reviewed.jsonl"
    dataset.write_text(export.text)
    rows, _ = answer_eval.load(dataset)  # what `cairn eval ragas` reads
    assert {r.question for r in rows} >= {HEALTH_Q, OFF_TOPIC}
    assert runtime.review.export("globex") == []


def test_rate_limits_answer_429_with_retry_after(tmp_path, bge, parser, redis_url):
    limiter = RateLimiter(LimitSettings(per_key="3/minute", per_tenant="5/minute"), redis_url)
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)
    with open_root(settings, bge, parser, rate_limiter=limiter) as root, TestClient(create_app(root)) as client:
        keys = {(tenant, role): root.keys.create(tenant, role, f"{tenant} {role}")[1]
                for tenant, role in (("globex", "reader"), ("globex", "editor"), ("acme", "reader"))}
        app = (client, root, keys)
        reader, editor = as_(app, "globex", "reader"), as_(app, "globex", "editor")
        assert [reader.get("/v1/documents").status_code for _ in range(3)] == [200] * 3
        limited = reader.get("/v1/documents")
        assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        assert [editor.get("/v1/documents").status_code for _ in range(2)] == [200, 200]  # its own key's budget...
        assert editor.get("/v1/documents").status_code == 429  # ...but the tenant's 5 are spent
        assert as_(app, "acme", "reader").get("/v1/documents").status_code == 200  # other tenants are not affected
        assert client.get("/healthz").status_code == 200


def test_metrics_expose_stage_histograms_and_operations(app):
    reader, admin = as_(app, "acme", "reader"), as_(app, "acme", "admin")
    answer = reader.post("/v1/answer", json={"question": HEALTH_Q}).json()
    reader.post("/v1/answer", json={"question": OFF_TOPIC})
    reader.post("/v1/feedback", json={"answer_id": answer["id"], "rating": "up"})
    response = admin.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    samples = [s for family in text_string_to_metric_families(response.text) for s in family.samples]

    def value(name, **labels):
        found = [s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
        assert found, (name, labels)
        return sum(found)

    for stage in ("embed", "retrieve", "generate", "total"):
        assert value("rag_stage_duration_seconds_count", stage=stage) >= 2
        assert value("rag_stage_duration_seconds_bucket", stage=stage, le="+Inf") >= 2
    assert value("cairn_fallbacks_total", reason="low_confidence") >= 1
    assert value("cairn_http_requests_total", route="/v1/answer", status="200") >= 2
    assert value("cairn_http_request_duration_seconds_count", route="/v1/answer") >= 2
    assert value("cairn_review_queue_depth") >= 1
    assert value("cairn_feedback", rating="up") >= 1
    assert value("cairn_ingest_items", status="indexed") == 2
    assert value("cairn_queue_length") == 0


def test_cost_projection_from_the_recorded_mix(app, tmp_path):
    _, runtime, _ = app
    tenant = f"costly-{uuid.uuid4().hex[:6]}"
    for i in range(10):  # 3 of 10 answers written by an LLM, 1,000 tokens in and 100 out each
        llm = i < 3
        runtime.answer_log.log(
            {"id": str(uuid.uuid4()), "question": f"q{i}", "answer": "a", "confidence": 0.9,
             "generator": "gpt-4o-mini" if llm else "extractive", "timings_ms": {"total": 10.0},
             "usage": {"input_tokens": 1000 if llm else 0, "output_tokens": 100 if llm else 0, "cost_usd": 0.0}},
            asker=Asker(tenant), collection="c", model="gpt-4o-mini" if llm else "ms-marco", retrieved=[],
        )
    admin_key = runtime.keys.create(tenant, "admin", "ops")[1]
    report = app[0].get("/v1/cost", headers=auth(admin_key)).json()
    mix = {m["model"]: m for m in report["mix"]}
    assert mix["gpt-4o-mini"]["share"] == pytest.approx(0.3) and mix["gpt-4o-mini"]["price_source"].startswith("genai-prices")
    assert mix["ms-marco"]["usd_per_request"] == 0
    # gpt-4o-mini: $0.15 / M input, $0.60 / M output -> $0.00021 per LLM request, $0.000063 per request in this mix
    assert report["usd_per_request"] == pytest.approx(0.3 * (1000 * 0.15 + 100 * 0.60) / 1e6, rel=0.05)
    monthly = {p["requests_per_day"]: p["monthly_usd"] for p in report["projections"]}
    assert monthly[100_000] == pytest.approx(monthly[100] * 1000, rel=0.01) and monthly[100_000] > 100

    env = {**os.environ, "CAIRN_DATA_DIR": str(runtime.settings.resolved_data_dir)}
    printed = subprocess.run([sys.executable, "-m", "api.cli", "cost", "--tenant", tenant], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
    assert printed.returncode == 0, printed.stderr
    assert "100,000 requests/day" in printed.stdout and "gpt-4o-mini: 30% of requests" in printed.stdout
