"""The documents and jobs routes through the real app (HTTP client), real Edge shard, real models."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.conftest import DOCS, wait_status


@pytest.fixture
def client(runtime):
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


def wait_job(client, url, timeout_s=120):
    return wait_status(client, url, timeout_s=timeout_s)


def upload(client, *files, **data):
    return client.post("/v1/documents", files=[("file", f) for f in files], data=data)


def test_upload_list_show_delete(client):
    memo = (DOCS / "fake-memo.pdf").read_bytes()
    response = upload(client, ("memo.pdf", memo, "application/pdf"), ("empty.txt", b"", "text/plain"))
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert [d["filename"] for d in accepted["documents"]] == ["memo.pdf", "empty.txt"]
    job = wait_job(client, accepted["status_url"])
    assert job["status"] == "done" and job["progress"] == 1.0
    statuses = {d["path"]: d["status"] for d in job["documents"]}
    assert statuses == {"memo.pdf": "indexed", "empty.txt": "rejected"}

    listed = client.get("/v1/documents").json()["documents"]
    assert [d["source"] for d in listed] == ["upload://memo.pdf"]
    document_id = accepted["documents"][0]["document_id"]
    assert listed[0]["document_id"] == document_id
    shown = client.get(f"/v1/documents/{document_id}").json()
    assert shown["indexes"][0]["chunks"] >= 1 and shown["mime_type"] == "application/pdf"

    again = wait_job(client, upload(client, ("memo.pdf", memo, "application/pdf")).json()["status_url"])
    assert again["documents"][0]["status"] == "unchanged"

    assert client.delete(f"/v1/documents/{document_id}").status_code == 200
    assert client.get(f"/v1/documents/{document_id}").status_code == 404
    assert client.delete(f"/v1/documents/{document_id}").json()["error"]["code"] == "not_found"


def test_a_mixed_batch_gives_every_file_its_own_outcome(client, runtime):
    runtime.settings.ingest.max_file_bytes = 1000
    sent = [
        ("notes.txt", b"The lighthouse keeper logs every passing ship.", "text/plain"),
        ("tool.exe", b"MZ\x90\x00", "application/octet-stream"),
        ("big.txt", b"x" * 5000, "text/plain"),
        ("../../etc/passwd.txt", b"root text here", "text/plain"),
        ("song.mp3", b"ID3\x03\x00", "audio/mpeg"),
        ("guide.md", b"# Guide\n\nHerons nest in tall reeds near the estuary.", "text/markdown"),
    ]
    response = upload(client, *sent)
    assert response.status_code == 202, response.text
    body = {d["filename"]: d for d in response.json()["documents"]}
    assert [d["filename"] for d in response.json()["documents"]] == [
        "notes.txt", "tool.exe", "big.txt", "../../etc/passwd.txt", "song.mp3", "guide.md"]
    assert {name: d["status"] for name, d in body.items()} == {
        "notes.txt": "accepted", "tool.exe": "rejected", "big.txt": "rejected", "../../etc/passwd.txt": "rejected",
        "song.mp3": "rejected", "guide.md": "accepted"}
    assert body["tool.exe"]["reason"].startswith("unsupported_type:")
    assert body["big.txt"]["reason"].startswith("too_large:")
    assert body["../../etc/passwd.txt"]["reason"].startswith("unsafe_name:")
    assert body["song.mp3"]["reason"] == "unsupported_type: audio and video need speech-to-text, which Cairn does not run"

    job = wait_job(client, response.json()["status_url"])
    outcomes = {d["path"]: (d["status"], d["reason"]) for d in job["documents"]}
    assert outcomes["notes.txt"][0] == "indexed" and outcomes["guide.md"][0] == "indexed"
    assert outcomes["big.txt"] == ("rejected", body["big.txt"]["reason"])
    assert job["status"] == "done" and job["progress"] == 1.0
    found = client.post("/v1/search", json={"query": "herons nest reeds", "top_k": 1}).json()["results"]
    assert found[0]["source"] == "upload://guide.md"
    # Only the indexed files are kept; nothing was written outside the upload area.
    uploads = runtime.settings.resolved_data_dir / "uploads"
    kept = sorted(p.name.split("_", 1)[1] for p in uploads.rglob("*") if p.is_file())
    assert kept == ["guide.md", "notes.txt"]


def test_a_request_over_the_whole_request_limit_is_refused_whole(client, runtime):
    runtime.settings.ingest.max_request_bytes = 2000
    response = upload(client, ("a.txt", b"a" * 1500, "text/plain"), ("b.txt", b"b" * 1500, "text/plain"))
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"
    assert client.get("/v1/documents").json()["documents"] == []


def test_bad_parameters_are_422_with_a_message(client):
    bad_strategy = upload(client, ("a.txt", b"hello", "text/plain"), strategy="magic")
    assert bad_strategy.status_code == 422 and "choose one of" in bad_strategy.json()["error"]["message"]
    no_file = client.post("/v1/documents", data={"collection": "x"})
    assert no_file.status_code == 422 and no_file.json()["error"]["code"] == "invalid_request"
    bad_metadata = upload(client, ("a.txt", b"hello", "text/plain"), metadata="[1,2]")
    assert bad_metadata.status_code == 422
    for metadata, complaint in (('{"tags": "hr"}', "tags"), ('{"date": "last tuesday"}', "ISO 8601")):
        refused = upload(client, ("a.txt", b"hello", "text/plain"), metadata=metadata)
        assert refused.status_code == 422 and complaint in refused.json()["error"]["message"]


def test_unknown_job_is_404(client):
    assert client.get("/v1/jobs/nope").status_code == 404


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["vector_store"] == "ok"


def test_search_route(client):
    memo = (DOCS / "fake-memo.pdf").read_bytes()
    wait_job(client, upload(client, ("memo.pdf", memo, "application/pdf")).json()["status_url"])
    found = client.post("/v1/search", json={"query": "memo", "top_k": 3})
    assert found.status_code == 200
    result = found.json()["results"][0]
    assert result["source"] == "upload://memo.pdf" and result["page"] == 1
    assert client.post("/v1/search", json={"query": ""}).status_code == 422
    assert client.post("/v1/search", content=b"{not json", headers={"content-type": "application/json"}).status_code == 422


def test_tags_and_dates_from_upload_metadata_filter_search(client):
    for name, tags, date in (("leave.txt", ["hr"], "2024-01-15"), ("travel.txt", ["finance", "hr"], "2025-06-01")):
        body = f"The {name[:-4]} policy: employees must file the {name[:-4]} form two weeks ahead.".encode()
        meta = json.dumps({"tags": tags, "date": date})
        wait_job(client, upload(client, (name, body, "text/plain"), metadata=meta).json()["status_url"])

    def sources(**filters) -> set[str]:
        response = client.post("/v1/search", json={"query": "policy form", "filters": filters})
        assert response.status_code == 200, response.text
        return {r["source"] for r in response.json()["results"]}

    assert sources(tags=["finance"]) == {"upload://travel.txt"}
    assert sources(tags=["hr"]) == {"upload://leave.txt", "upload://travel.txt"}
    assert sources(tags=["hr"], date_from="2025-01-01") == {"upload://travel.txt"}
    assert sources(date_to="2024-12-31T23:59:59Z") == {"upload://leave.txt"}
    bad = client.post("/v1/search", json={"query": "policy", "filters": {"date_from": "soon"}})
    assert bad.status_code == 422 and "ISO 8601" in bad.json()["error"]["message"]
