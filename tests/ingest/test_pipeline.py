"""The ingestion service end to end on a real Edge shard, real model and real parser: index, unchanged, replace,
delete, and rejections."""

from __future__ import annotations

import zipfile

import pytest
from sqlalchemy import update

from core.db import IndexEntryRow, utcnow
from core.types import DocumentStatus, RejectReason
from ingest.pipeline import INDEX_FORMAT, IngestTarget, store_name

TARGET = IngestTarget(tenant="acme", collection="handbook", strategy="sentence")
PARAGRAPHS = [
    "Cairn keeps every answer grounded in a cited span of a source document. " * 4,
    "Workers parse, chunk, embed and index documents; a bad file is rejected with a reason. " * 4,
    "Readers never see a document half indexed, nor two versions of it at once. " * 4,
]


def write(path, paragraphs):
    path.write_text("\n\n".join(paragraphs))
    return path


def ingest(runtime, path, target=TARGET):
    return runtime.ingest.ingest(path, display=path.name, source=str(path), target=target)


def collection(runtime, target=TARGET):
    return store_name(runtime.settings.qdrant.prefix, target.collection, target.strategy)


def test_index_then_unchanged_then_replace_then_delete(runtime, tmp_path):
    runtime.settings.chunking.chunk_size = 32  # several chunks from a small file
    doc = write(tmp_path / "guide.md", PARAGRAPHS)

    first = ingest(runtime, doc)
    assert first.status is DocumentStatus.INDEXED and first.chunks > 2
    name = collection(runtime)
    assert runtime.store.count(name, first.document_id) == first.chunks
    text = runtime.catalog.text(first.document_id, 1)
    for chunk in runtime.store.chunks(name, first.document_id):
        p = chunk.payload
        assert text[p.start : p.end] == p.text
        assert (p.tenant, p.version, p.source) == ("acme", 1, str(doc))

    embedded = runtime.embedder.computed
    again = ingest(runtime, doc)
    assert again.status is DocumentStatus.UNCHANGED and again.chunks == 0
    assert runtime.embedder.computed == embedded  # nothing re-embedded
    assert runtime.store.count(name) == first.chunks

    write(doc, PARAGRAPHS + ["A new closing paragraph about corpus versions and audit trails. " * 3])
    replaced = ingest(runtime, doc)
    assert replaced.status is DocumentStatus.REPLACED
    assert replaced.document_id == first.document_id
    chunks = runtime.store.chunks(name, first.document_id)
    assert len(chunks) == replaced.chunks == runtime.store.count(name)
    assert {c.payload.version for c in chunks} == {2}
    assert runtime.embedder.computed - embedded < replaced.chunks  # unchanged text came from the cache
    assert runtime.catalog.get("acme", first.document_id).version == 2

    before = runtime.catalog.record_corpus_version("acme", "handbook")
    assert runtime.ingest.delete("acme", first.document_id)
    assert runtime.store.count(name) == 0
    assert runtime.catalog.get("acme", first.document_id) is None
    assert runtime.catalog.corpus_version("acme", "handbook") != before
    assert not runtime.ingest.delete("acme", first.document_id)


def test_a_delete_wins_over_an_upload_accepted_before_it(runtime, tmp_path):
    """An upload waiting when its document is deleted is not ingested after the delete (the document would come
    back): it ends `conflict`, naming the delete. A file uploaded after the delete restores the document."""
    doc = write(tmp_path / "a.txt", PARAGRAPHS[:2])
    first = ingest(runtime, doc)
    accepted = utcnow()  # a new version is uploaded and waits...
    write(doc, PARAGRAPHS)
    assert runtime.ingest.delete("acme", first.document_id)  # ...while the document is deleted
    name = collection(runtime)
    stale = runtime.ingest.ingest(doc, display=doc.name, source=str(doc), target=TARGET, accepted_at=accepted)
    assert stale.status is DocumentStatus.CONFLICT and "was deleted" in stale.reason and stale.chunks == 0
    assert runtime.catalog.get("acme", first.document_id) is None and runtime.store.count(name) == 0
    assert runtime.catalog.pending_deletions() == []  # the tombstone is not a deletion under way

    restored = runtime.ingest.ingest(doc, display=doc.name, source=str(doc), target=TARGET, accepted_at=utcnow())
    assert restored.status is DocumentStatus.INDEXED and restored.document_id == first.document_id
    assert runtime.store.count(name, first.document_id) == restored.chunks
    assert runtime.ingest.delete("acme", first.document_id)  # deleted again: the tombstone moves on
    assert runtime.catalog.deleted_since(first.document_id, accepted) is not None
    assert runtime.catalog.get("acme", first.document_id) is None and runtime.store.count(name) == 0


def test_a_version_and_a_tombstone_written_from_two_processes_exclude_each_other(database_url):
    """A worker recording a version of a document while the API, another process, writes the document's tombstone:
    whichever comes second sees the first whole. Recording an upload accepted before the delete is refused, and a
    deletion cannot write its tombstone while a version is being recorded (each side holds the document's lock)."""
    import threading

    from core.db import Database, DeletionRow
    from core.types import ParsedDocument
    from ingest.catalog import DeletedAfterUpload, DocumentCatalog

    worker_db, api_db = Database(database_url), Database(database_url)  # two engines: two processes' connections
    worker_db.migrate()
    worker, api = DocumentCatalog(worker_db), DocumentCatalog(api_db)
    parsed = ParsedDocument(text="one sentence.", elements=[], title="t", mime_type="text/plain")
    version = dict(document_id="doc-1", tenant="acme", collection="c", strategy="sentence", source="a.txt",
                   filename="a.txt", size_bytes=13, content_hash="h1", version=1, parsed=parsed, chunks=1,
                   index_format=1)
    tombstone = dict(document_id="doc-1", tenant="acme", collection="c", store_names=[], stored_paths=[], texts=[])
    try:
        accepted = utcnow()
        api.begin_deletion(DeletionRow(**tombstone))
        with pytest.raises(DeletedAfterUpload):
            worker.record(**version, accepted_at=accepted)
        assert worker.get("acme", "doc-1") is None
        assert worker.record(**version, accepted_at=utcnow())  # uploaded after the delete: it restores the document

        if worker_db.dialect != "postgresql":
            return  # SQLite: one process writes, through one connection, so there is nothing to interleave
        written = threading.Event()
        with worker_db.connection() as recording:  # a version being recorded holds the lock...
            worker_db.lock_document(recording, "doc-1")
            thread = threading.Thread(target=lambda: (api.begin_deletion(DeletionRow(**tombstone)), written.set()))
            thread.start()
            assert not written.wait(1.0)  # ...so the tombstone waits for it
        assert written.wait(10.0)
        thread.join()
    finally:
        worker_db.dispose()
        api_db.dispose()


def test_delete_is_scoped_to_the_tenant(runtime, tmp_path):
    doc = write(tmp_path / "a.txt", PARAGRAPHS[:1])
    outcome = ingest(runtime, doc)
    assert not runtime.ingest.delete("globex", outcome.document_id)
    assert runtime.store.count(collection(runtime), outcome.document_id) == outcome.chunks


def test_same_file_into_another_strategy_is_indexed_separately(runtime, tmp_path):
    doc = write(tmp_path / "a.txt", PARAGRAPHS)
    token = IngestTarget("acme", "handbook", "token")
    assert ingest(runtime, doc).status is DocumentStatus.INDEXED
    assert ingest(runtime, doc, token).status is DocumentStatus.INDEXED
    assert ingest(runtime, doc, token).status is DocumentStatus.UNCHANGED


def test_an_index_written_in_an_older_format_is_rebuilt_when_its_document_is_ingested_again(runtime, tmp_path):
    """Documents indexed by an earlier Cairn (an older INDEX_FORMAT: no heading paths, say) get what an upgrade
    brings when they are ingested again, unchanged: a new version of the same text, swapped in whole, which each
    strategy's index then shares; after that the same file is unchanged again."""
    doc = write(tmp_path / "guide.md", ["# Guide", *PARAGRAPHS])
    token = IngestTarget("acme", "handbook", "token")
    first = ingest(runtime, doc)
    assert ingest(runtime, doc, token).status is DocumentStatus.INDEXED
    with runtime.catalog.db.connection() as c:  # as an earlier Cairn left them
        c.execute(update(IndexEntryRow.__table__).values(index_format=INDEX_FORMAT - 1))

    again = ingest(runtime, doc)
    assert again.status is DocumentStatus.REPLACED and again.chunks == first.chunks
    chunks = runtime.store.chunks(collection(runtime), first.document_id)
    assert {c.payload.version for c in chunks} == {2} and len(chunks) == runtime.store.count(collection(runtime))
    assert all(c.payload.sections for c in chunks)  # what the current format writes
    assert ingest(runtime, doc, token).status is DocumentStatus.REPLACED
    assert {c.payload.version for c in runtime.store.chunks(collection(runtime, token), first.document_id)} == {2}
    assert [v.version for v in runtime.catalog.versions(first.document_id)] == [1, 2]  # not one version per strategy
    assert runtime.catalog.text(first.document_id, 2) == runtime.catalog.text(first.document_id, 1)
    assert ingest(runtime, doc).status is DocumentStatus.UNCHANGED
    assert ingest(runtime, doc, token).status is DocumentStatus.UNCHANGED


@pytest.mark.parametrize(
    ("content", "limit", "code"),
    [(b"", None, RejectReason.EMPTY), (b"x" * 2048, 1024, RejectReason.TOO_LARGE)],
)
def test_size_rejections(runtime, tmp_path, content, limit, code):
    if limit:
        runtime.settings.ingest.max_file_bytes = limit
    path = tmp_path / "file.txt"
    path.write_bytes(content)
    outcome = ingest(runtime, path)
    assert outcome.status is DocumentStatus.REJECTED
    assert outcome.reason.startswith(code.value + ":")


def test_missing_file_is_rejected(runtime, tmp_path):
    outcome = ingest(runtime, tmp_path / "nope.pdf")
    assert outcome.status is DocumentStatus.REJECTED and outcome.reason.startswith("not_found:")


def test_archive_members_are_documents_and_nested_archives_are_bounded(runtime, tmp_path):
    inner = tmp_path / "inner.zip"
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("deep.txt", PARAGRAPHS[1])
    outer = tmp_path / "bundle.zip"
    with zipfile.ZipFile(outer, "w") as zf:
        zf.writestr("top.txt", PARAGRAPHS[0])
        zf.write(inner, "inner.zip")
        zf.writestr("../evil.txt", "escape")
    outcome = ingest(runtime, outer)
    assert outcome.status is DocumentStatus.INDEXED
    by_path = {m.path: m for m in outcome.members}
    assert by_path["bundle.zip::top.txt"].status is DocumentStatus.INDEXED
    assert by_path["bundle.zip::inner.zip"].status is DocumentStatus.INDEXED
    assert by_path["bundle.zip::../evil.txt"].reason.startswith("unsafe_name:")
    assert outcome.chunks == by_path["bundle.zip::top.txt"].chunks + by_path["bundle.zip::inner.zip"].chunks

    runtime.settings.ingest.archive_max_depth = 0
    deeper = ingest(runtime, outer)
    assert deeper.status is DocumentStatus.UNCHANGED  # top.txt unchanged; the nested archive is now refused
    refused = {m.path: m for m in deeper.members}["bundle.zip::inner.zip"]
    assert refused.status is DocumentStatus.REJECTED and refused.reason.startswith("archive_limit:")


def test_worker_threads_registering_a_collection_at_once_all_succeed(database_url):
    """The first documents of a new collection, taken by several worker threads at the same moment, each register
    the collection: on Postgres the threads that lost the race got a unique violation and their documents failed
    (seen in `make bench-memory`). A mismatched embedder is still refused."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from core.db import Database
    from ingest.catalog import CollectionMismatch, DocumentCatalog

    db = Database(database_url)
    db.migrate()
    catalog = DocumentCatalog(db)
    try:
        for round_ in range(10):
            start = threading.Barrier(4)

            def register(_: int) -> None:
                start.wait()
                catalog.register_collection("t", f"race{round_}", "sentence", f"cairn-race{round_}", "bge", 384, 256, 32)

            with ThreadPoolExecutor(4) as pool:
                list(pool.map(register, range(4)))  # raises if any thread failed
        assert len(catalog.collections("t")) == 10
        with pytest.raises(CollectionMismatch):
            catalog.register_collection("t", "race0", "sentence", "cairn-race0", "minilm", 384, 256, 32)
    finally:
        db.dispose()


def test_two_deletes_of_one_document_at_once_both_succeed(runtime, tmp_path):
    """Two requests delete the same document: the second records its deletion while the first is erasing (held at
    the `delete` failpoint), then finds it finished when it gets the document's lock; it succeeds, with nothing to
    do, instead of failing."""
    import threading
    import time

    from core.failpoints import Failpoints
    from core.settings import FaultSettings

    outcome = ingest(runtime, write(tmp_path / "a.txt", PARAGRAPHS))
    # Held 3 s: ample time for the second to start, even on a loaded machine.
    runtime.ingest.failpoints = Failpoints(FaultSettings(hold_at={"delete"}, hold_s=3.0))
    results: list[bool] = []
    first = threading.Thread(target=lambda: results.append(runtime.ingest.delete("acme", outcome.document_id)))
    first.start()
    deadline = time.monotonic() + 30
    while runtime.catalog.deletion(outcome.document_id) is None:  # the first has recorded its deletion...
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert runtime.catalog.get("acme", outcome.document_id) is not None  # ...and is held before erasing
    assert runtime.ingest.delete("acme", outcome.document_id)
    first.join()
    assert results == [True]
    assert runtime.catalog.get("acme", outcome.document_id) is None
    assert runtime.store.count(collection(runtime), outcome.document_id) == 0
    assert runtime.catalog.pending_deletions() == []
