"""A document's life through the real API: no silent replace by name, explicit replace, versions and who wrote
them, erasure (SQL store, uploads, embedding cache) and purge of past quotes."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, select

from api.app import create_app
from core.db import EmbeddingCacheRow
from core.embedders import content_key
from ingest.pipeline import store_name
from tests.conftest import wait_status

HERONS = b"Grey herons nest in the tall reeds of the Marlow estuary every spring."
LANTERNS = b"The Marlow lighthouse keeps four hundred and twelve brass lanterns polished."


@pytest.fixture
def client(runtime):
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


def upload(client, *files, headers=None, **data):
    return client.post("/v1/documents", files=[("file", f) for f in files], data=data, headers=headers or {})


def finished(client, response, headers=None):
    assert response.status_code == 202, response.text
    return wait_status(client, response.json()["status_url"], timeout_s=120) if headers is None else _wait_with(client, response, headers)


def _wait_with(client, response, headers):
    import time

    for _ in range(600):
        job = client.get(response.json()["status_url"], headers=headers).json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError("the job did not finish")


def top_source_text(client, query: str, headers=None) -> str:
    results = client.post("/v1/search", json={"query": query, "top_k": 1}, headers=headers or {}).json()["results"]
    return results[0]["text"] if results else ""


def test_an_upload_named_like_another_document_is_a_conflict_until_replace_is_asked(client):
    first = finished(client, upload(client, ("report.txt", HERONS, "text/plain")))
    document_id = first["documents"][0]["document_id"]
    assert first["documents"][0]["status"] == "indexed"

    clash = upload(client, ("report.txt", LANTERNS, "text/plain"))
    assert clash.status_code == 202
    refused = clash.json()["documents"][0]
    assert refused["status"] == "conflict" and refused["document_id"] == document_id and document_id in refused["reason"]
    job = finished(client, clash)
    assert job["documents"][0]["status"] == "conflict"
    assert "herons" in top_source_text(client, "herons nest estuary").lower()  # the first upload is untouched
    assert [v["version"] for v in client.get(f"/v1/documents/{document_id}").json()["versions"]] == [1]

    same = finished(client, upload(client, ("report.txt", HERONS, "text/plain")))
    assert same["documents"][0]["status"] == "unchanged"

    replaced = finished(client, upload(client, ("report.txt", LANTERNS, "text/plain"), replace="true"))
    assert replaced["documents"][0] == {**replaced["documents"][0], "document_id": document_id, "status": "replaced"}
    assert "lanterns" in top_source_text(client, "brass lanterns lighthouse").lower()

    put = client.put(f"/v1/documents/{document_id}", files={"file": ("report-v3.txt", HERONS + b" Revised.", "text/plain")})
    assert put.status_code == 202 and put.json()["documents"][0]["document_id"] == document_id
    assert finished(client, put)["documents"][0]["status"] == "replaced"
    shown = client.get(f"/v1/documents/{document_id}").json()
    assert shown["source"] == "upload://report.txt" and shown["version"] == 3
    versions = shown["versions"]
    assert [v["version"] for v in versions] == [1, 2, 3]
    assert [v["retired_at"] is None for v in versions] == [False, False, True]
    assert client.put("/v1/documents/nope", files={"file": ("x.txt", b"x", "text/plain")}).status_code == 404


def test_an_explicit_source_names_the_document_and_replaces_it(client):
    meta = json.dumps({"source": "wiki://herons"})
    first = finished(client, upload(client, ("a.txt", HERONS, "text/plain"), metadata=meta))
    second = finished(client, upload(client, ("b.txt", LANTERNS, "text/plain"), metadata=meta))
    assert first["documents"][0]["document_id"] == second["documents"][0]["document_id"]
    assert second["documents"][0]["status"] == "replaced"


def test_every_version_records_the_key_that_wrote_it(client):
    editor = client.post("/v1/keys", json={"name": "editor", "role": "editor"}).json()
    headers = {"Authorization": f"Bearer {editor['key']}"}
    job = finished(client, upload(client, ("memo.txt", HERONS, "text/plain"), headers=headers), headers)
    document_id = job["documents"][0]["document_id"]
    put = client.put(f"/v1/documents/{document_id}", files={"file": ("memo.txt", LANTERNS, "text/plain")}, headers=headers)
    _wait_with(client, put, headers)
    versions = client.get(f"/v1/documents/{document_id}", headers=headers).json()["versions"]
    assert [v["written_by"] for v in versions] == [editor["id"], editor["id"]]


def _sql_rows_holding(runtime, needle: str) -> list[str]:
    """Every (table, row) of the SQL store whose text holds `needle`."""
    meta = MetaData()
    meta.reflect(runtime.db.engine)
    found = []
    with runtime.db.engine.connect() as connection:
        for table in meta.sorted_tables:
            for row in connection.execute(select(table)):
                if needle.lower() in repr(tuple(row)).lower():
                    found.append(f"{table.name}: {tuple(row)!r:.200}")
    return found


def test_delete_erases_the_text_everywhere_but_keeps_embeddings_another_document_uses(client, runtime):
    marker = "Zephyrine quokkas"
    v1 = f"{marker} graze on the northern ledge of the Ambervale cliffs.".encode()
    v2 = f"{marker} were counted twice by the Ambervale rangers last winter.".encode()
    model = runtime.embedder.model_id

    def cached(text: bytes) -> bool:
        with runtime.db.session() as s:
            return s.get(EmbeddingCacheRow, content_key(model, text.decode())) is not None

    job = finished(client, upload(client, ("quokkas.txt", v1, "text/plain")))
    document_id = job["documents"][0]["document_id"]
    assert cached(v1)
    finished(client, upload(client, ("quokkas.txt", v2, "text/plain"), replace="true"))
    assert cached(v2) and not cached(v1)  # the replaced version's chunk left the index, and its embedding with it
    # Another document holding v2's text word for word shares its cached embedding.
    copy = finished(client, upload(client, ("copy.txt", v2, "text/plain")))["documents"][0]["document_id"]
    assert _sql_rows_holding(runtime, marker)
    corpus_before = runtime.catalog.corpus_version(runtime.settings.tenant, runtime.settings.collection)

    assert client.delete(f"/v1/documents/{document_id}").status_code == 200
    assert cached(v2)  # copy.txt still uses it
    assert runtime.catalog.corpus_version(runtime.settings.tenant, runtime.settings.collection) != corpus_before
    assert client.delete(f"/v1/documents/{copy}").status_code == 200
    assert not cached(v2)

    assert _sql_rows_holding(runtime, marker) == []
    uploads = runtime.settings.resolved_data_dir / "uploads"
    assert [p for p in uploads.rglob("*") if p.is_file() and marker.encode() in p.read_bytes()] == []
    assert top_source_text(client, "quokkas Ambervale") == ""


def test_a_chunk_is_embedded_under_its_headings_and_that_embedding_is_erased_with_it(client, runtime):
    """The dense vector of a chunk under a heading is computed from "Title > Section" and its text, so a question
    naming the article finds a chunk that does not; deleting the document forgets that embedding too."""
    body = (" = Ambervale Lighthouse = \n The lighthouse stands on the northern ledge of the cliffs .\n = = Keepers = = \n"
            + "".join(f" Keeper number {n} lit the lamp every night for {n + 3} years .\n" for n in range(40)))
    job = finished(client, upload(client, ("lighthouse.md", body.encode(), "text/plain")))
    document_id = job["documents"][0]["document_id"]
    name = store_name(runtime.settings.qdrant.prefix, runtime.settings.collection, runtime.settings.chunking.strategy)
    chunks = runtime.store.chunks(name, document_id)
    headed = [c.payload for c in chunks if c.payload.indexed_text != c.payload.text]
    assert headed and headed[0].indexed_text.startswith("Ambervale Lighthouse")
    model = runtime.embedder.model_id
    with runtime.db.session() as s:
        assert all(s.get(EmbeddingCacheRow, content_key(model, p.indexed_text)) for p in headed)
    assert client.delete(f"/v1/documents/{document_id}").status_code == 200
    with runtime.db.session() as s:
        assert not any(s.get(EmbeddingCacheRow, content_key(model, p.indexed_text)) for p in headed)


def test_purge_redacts_the_documents_quotes_in_past_answers(client, runtime):
    text = b"The Ostrava harbour charter requires every pilot boat to carry nine signal flares."
    job = finished(client, upload(client, ("charter.txt", text, "text/plain")))
    document_id = job["documents"][0]["document_id"]
    answer = client.post("/v1/answer", json={"question": "How many signal flares must every pilot boat carry?"}).json()
    assert answer["fallback"] is None and answer["citations"][0]["document_id"] == document_id
    quote = answer["citations"][0]["quote"]

    admin = client.post("/v1/keys", json={"name": "a", "role": "admin"}).json()  # the first key closes the API
    reader = client.post("/v1/keys", json={"name": "r", "role": "reader"}, headers={"X-API-Key": admin["key"]}).json()
    refused = client.post(f"/v1/documents/{document_id}/purge", headers={"X-API-Key": reader["key"]})
    assert refused.status_code == 403
    purged = client.post(f"/v1/documents/{document_id}/purge", headers={"X-API-Key": admin["key"]})
    assert purged.status_code == 200 and purged.json() == {"document_id": document_id, "deleted": True, "answers_redacted": 1}

    record = client.get(f"/v1/answers/{answer['id']}", headers={"X-API-Key": admin["key"]}).json()
    citation = record["citations"][0]
    assert citation["quote"] == "[redacted]" and citation["chunk_id"] == answer["citations"][0]["chunk_id"]
    assert len(citation["quote_sha256"]) == 64 and quote not in record["answer"]
    assert _sql_rows_holding(runtime, "Ostrava harbour charter") == []
    again = client.post(f"/v1/documents/{document_id}/purge", headers={"X-API-Key": admin["key"]})
    assert again.status_code == 404


def test_two_files_of_one_request_under_one_name_do_not_replace_each_other(client):
    response = upload(client, ("same.txt", HERONS, "text/plain"), ("same.txt", LANTERNS, "text/plain"))
    assert [d["status"] for d in response.json()["documents"]] == ["accepted", "conflict"]
    job = finished(client, response)
    assert [d["status"] for d in job["documents"]] == ["indexed", "conflict"]
    assert "herons" in top_source_text(client, "herons lanterns").lower()
