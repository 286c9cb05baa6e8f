"""Several clients at once uploading, explicitly replacing and deleting through the API, some files shared by name:
afterwards the catalog, the index and the job records agree exactly (issue 24, item 2; a short run)."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.settings import Settings
from ingest.pipeline import store_name
from tests.conftest import open_root

NAMES = [f"shared-{i}.txt" for i in range(4)]  # every client writes these names
WORDS = "heron reed estuary lantern brass keeper tide marsh gull quay".split()


def content(rng: random.Random, name: str) -> bytes:
    return (f"{name} says: " + " ".join(rng.choice(WORDS) for _ in range(40)) + ".").encode()


@pytest.mark.slow
def test_concurrent_uploaders_leave_catalog_index_and_jobs_in_agreement(tmp_path, bge, parser):
    settings = Settings(data_dir=tmp_path / "data", worker={"concurrency": 3}, _env_file=None)
    with open_root(settings, bge, parser) as root, TestClient(create_app(root)) as client:
        lock = threading.Lock()
        jobs: list[str] = []
        conflicts: list[tuple[str, str]] = []  # (name, document id) a client was told it conflicted with

        def client_run(seed: int) -> None:
            rng = random.Random(seed)
            for _ in range(6):
                name = rng.choice(NAMES + [f"own-{seed}-{rng.randrange(3)}.txt"])
                action = rng.choice(["upload", "upload", "replace", "delete"])
                listed = {d["source"]: d["document_id"] for d in client.get("/v1/documents").json()["documents"]}
                if action == "delete" and f"upload://{name}" in listed:
                    assert client.delete(f"/v1/documents/{listed[f'upload://{name}']}").status_code in (200, 404)
                    continue
                response = client.post("/v1/documents", files=[("file", (name, content(rng, name)))],
                                       data={"replace": "true" if action == "replace" else "false"})
                assert response.status_code == 202, response.text
                (outcome,) = response.json()["documents"]
                with lock:
                    jobs.append(response.json()["job_id"])
                    if outcome["status"] == "conflict":
                        conflicts.append((name, outcome["document_id"]))

        with ThreadPoolExecutor(5) as pool:
            list(pool.map(client_run, range(5)))

        deadline = time.monotonic() + 300
        while not all(root.jobs.is_finished(job) for job in jobs):
            assert time.monotonic() < deadline, "jobs did not finish"
            time.sleep(0.2)

        statuses = [d["status"] for job in jobs for d in root.jobs.get(job).documents]
        assert set(statuses) <= {"indexed", "replaced", "unchanged", "conflict", "failed"}
        assert "failed" not in statuses, [d for job in jobs for d in root.jobs.get(job).documents if d["status"] == "failed"]
        assert {"indexed", "conflict"} <= set(statuses)  # the run did exercise shared names
        # A conflict, found at upload or by the worker, names the document it would have replaced, and left it alone.
        assert all(document_id for _, document_id in conflicts)
        for job in jobs:
            for d in root.jobs.get(job).documents:
                if d["status"] == "conflict":
                    assert d["document_id"] and d["document_id"] in d["reason"], d

        # The catalog and the index agree: every live document has exactly its newest version's chunks, and
        # nothing else is in the index.
        name = store_name(settings.qdrant.prefix, settings.collection, settings.chunking.strategy)
        live = root.catalog.list(settings.tenant, settings.collection, limit=1000)
        for document in live:
            (entry,) = root.catalog.index_entries(document.id)
            chunks = root.store.chunks(name, document.id)
            assert len(chunks) == entry.chunks == root.store.count(name, document.id), document.source
            assert {c.payload.version for c in chunks} == {document.version} == {entry.version}
            text = root.catalog.text(document.id, document.version)
            assert all(text[c.payload.start:c.payload.end] == c.payload.text for c in chunks)
        assert root.store.count(name) == sum(e.chunks for d in live for e in root.catalog.index_entries(d.id))
        # A deleted document is not searchable: every hit belongs to a live document.
        live_ids = {d.id for d in live}
        for word in WORDS:
            hits = root.search.search(word, tenant=settings.tenant, collection=settings.collection, top_k=50)
            assert {h.document_id for h in hits} <= live_ids
