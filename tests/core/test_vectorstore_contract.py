"""The vector-store contract, run against every implementation (Qdrant Edge and qdrant-client)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from core.types import ChunkPayload, ChunkRecord
from core.vectorstore import DocumentFilter, Fusion, SearchFilter, SearchMode, StoreLocked, StoreUnavailable, build_vector_store
from core.vectorstore.edge import EdgeVectorStore
from core.vectorstore.process import ProcessVectorStore
from core.vectorstore.server import ServerVectorStore

DIM = 4


def record(doc: str, version: int, index: int, dense, tokens, tenant="acme", text=None, **payload) -> ChunkRecord:
    return ChunkRecord(
        id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{doc}/{version}/{index}")),
        dense=list(dense),
        sparse_indices=list(tokens),
        sparse_values=[1.0] * len(tokens),
        payload=ChunkPayload(tenant=tenant, document_id=doc, version=version, source=f"{doc}.txt", text=text or f"{doc}-{index}",
                             chunk_index=index, **payload),
    )


class VectorStoreContract:
    """Every backend must pass these. Subclasses provide `store`."""

    @pytest.fixture
    def store(self, tmp_path):
        raise NotImplementedError

    def test_collection_lifecycle(self, store):
        assert not store.collection_exists("c")
        store.ensure_collection("c", DIM)
        store.ensure_collection("c", DIM)  # idempotent
        assert store.collection_exists("c")
        store.drop_collection("c")
        assert not store.collection_exists("c")

    def test_replace_writes_then_swaps_versions(self, store):
        store.ensure_collection("c", DIM)
        store.replace_document("c", "d1", 1, [record("d1", 1, i, [1, 0, 0, i], [i]) for i in range(3)])
        store.replace_document("c", "d2", 1, [record("d2", 1, 0, [0, 1, 0, 0], [9])])
        assert store.count("c") == 4 and store.count("c", "d1") == 3
        store.replace_document("c", "d1", 2, [record("d1", 2, 0, [1, 0, 0, 0], [1], text="new")])
        chunks = store.chunks("c", "d1")
        assert [c.payload.text for c in chunks] == ["new"]
        assert chunks[0].payload.version == 2
        assert store.count("c", "d2") == 1  # other documents untouched

    def test_replace_same_version_again_leaves_no_duplicates(self, store):
        store.ensure_collection("c", DIM)
        records = [record("d1", 1, i, [1, 0, 0, i], [i]) for i in range(3)]
        store.replace_document("c", "d1", 1, records)
        store.replace_document("c", "d1", 1, records)  # a retried task
        assert store.count("c", "d1") == 3

    def test_delete_removes_every_chunk(self, store):
        store.ensure_collection("c", DIM)
        store.replace_document("c", "d1", 1, [record("d1", 1, i, [1, 0, 0, i], [i]) for i in range(5)])
        store.delete_document("c", "d1")
        assert store.count("c", "d1") == 0
        assert store.search("c", flt=SearchFilter(tenant="acme"), limit=10, mode=SearchMode.DENSE, dense=[1, 0, 0, 0]) == []

    def test_dense_sparse_and_hybrid_rank_the_matching_chunk_first(self, store):
        store.ensure_collection("c", DIM)
        store.replace_document("c", "a", 1, [record("a", 1, 0, [1, 0, 0, 0], [11, 12])])
        store.replace_document("c", "b", 1, [record("b", 1, 0, [0, 1, 0, 0], [21, 22])])
        flt = SearchFilter(tenant="acme")
        dense = store.search("c", flt=flt, limit=2, mode=SearchMode.DENSE, dense=[0.9, 0.1, 0, 0])
        sparse = store.search("c", flt=flt, limit=2, mode=SearchMode.SPARSE, sparse=([21], [1.0]))
        hybrid = store.search("c", flt=flt, limit=2, mode=SearchMode.HYBRID, dense=[0, 1, 0, 0], sparse=([22], [1.0]))
        assert dense[0].payload.document_id == "a"
        assert [c.payload.document_id for c in sparse] == ["b"]
        assert hybrid[0].payload.document_id == "b"
        assert dense[0].score >= dense[1].score

    def test_hybrid_hits_carry_their_rrf_score_whatever_fusion_ranked_them_when_asked(self, store):
        store.ensure_collection("c", DIM)
        # "both" is first in the dense and the keyword ranking; "dense" only in the dense one; "far" in neither.
        store.replace_document("c", "both", 1, [record("both", 1, 0, [1, 0, 0, 0], [7, 8])])
        store.replace_document("c", "dense", 1, [record("dense", 1, 0, [0.9, 0.3, 0, 0], [30])])
        store.replace_document("c", "far", 1, [record("far", 1, 0, [0, 0, 1, 0], [40])])
        search = dict(flt=SearchFilter(tenant="acme"), limit=3, mode=SearchMode.HYBRID, dense=[1, 0, 0, 0], sparse=([7], [1.0]))
        by_rrf = {c.payload.document_id: c for c in store.search("c", fusion=Fusion.RRF, **search)}
        by_dbsf = {c.payload.document_id: c for c in store.search("c", fusion=Fusion.DBSF, rrf_scores=True, **search)}
        assert by_rrf["both"].rrf_score > by_rrf["dense"].rrf_score > 0  # first in both rankings scores highest
        assert {d: c.rrf_score for d, c in by_rrf.items()} == {d: pytest.approx(c.score) for d, c in by_rrf.items()}
        # Ranked by DBSF, each hit still carries its RRF score (its DBSF score is another scale).
        assert {d: c.rrf_score for d, c in by_dbsf.items()} == {d: pytest.approx(c.rrf_score) for d, c in by_rrf.items()}
        assert by_dbsf["both"].score != pytest.approx(by_dbsf["both"].rrf_score)
        assert all(c.rrf_score is None for c in store.search("c", fusion=Fusion.DBSF, **search))  # unless asked for
        single = store.search("c", flt=SearchFilter(tenant="acme"), limit=3, mode=SearchMode.DENSE, dense=[1, 0, 0, 0])
        assert all(c.rrf_score is None for c in single)

    def test_tenants_never_see_each_other(self, store):
        store.ensure_collection("c", DIM)
        store.replace_document("c", "mine", 1, [record("mine", 1, 0, [1, 0, 0, 0], [1], tenant="acme")])
        store.replace_document("c", "theirs", 1, [record("theirs", 1, 0, [1, 0, 0, 0], [1], tenant="globex")])
        for mode in SearchMode:
            hits = store.search(
                "c", flt=SearchFilter(tenant="acme"), limit=10, mode=mode, dense=[1, 0, 0, 0], sparse=([1], [1.0])
            )
            assert {h.payload.document_id for h in hits} == {"mine"}, mode

    def test_document_filter(self, store):
        store.ensure_collection("c", DIM)
        for doc in ("a", "b", "c"):
            store.replace_document("c", doc, 1, [record(doc, 1, 0, [1, 0, 0, 0], [1])])
        hits = store.search(
            "c", flt=SearchFilter("acme", DocumentFilter(document_ids=("a", "c"))), limit=10, mode=SearchMode.DENSE, dense=[1, 0, 0, 0]
        )
        assert {h.payload.document_id for h in hits} == {"a", "c"}
        for mode in SearchMode:
            hits = store.search(
                "c", flt=SearchFilter("acme", DocumentFilter(exclude_document_ids=("a", "b"))), limit=10, mode=mode,
                dense=[1, 0, 0, 0], sparse=([1], [1.0]),
            )
            assert {h.payload.document_id for h in hits} == {"c"}, mode

    def test_the_payload_comes_back_field_for_field(self, store):
        store.ensure_collection("c", DIM)
        full = record("d1", 1, 0, [1, 0, 0, 0], [1], collection="docs", strategy="hierarchical", content_hash="h",
                      filename="d1.md", title="T", start=5, end=9, page=2, element_types=("Title", "NarrativeText"),
                      section="Intro", tags=("hr",), date_ts=12.5, ocr=True, parent_text="a parent", parent_start=0,
                      parent_end=8, sections=((0, "Intro"), (6, "Intro > Scope")))
        plain = record("d2", 1, 0, [0, 1, 0, 0], [2])
        store.replace_document("c", "d1", 1, [full])
        store.replace_document("c", "d2", 1, [plain])
        assert store.chunks("c", "d1")[0].payload == full.payload
        assert store.chunks("c", "d2")[0].payload == plain.payload  # no parent: none comes back

    def test_tag_and_date_filters(self, store):
        store.ensure_collection("c", DIM)
        labelled = {"a": (["hr", "policy"], 100.0), "b": (["finance"], 200.0), "c": ([], 300.0)}
        for doc, (tags, date_ts) in labelled.items():
            store.replace_document("c", doc, 1, [record(doc, 1, 0, [1, 0, 0, 0], [1], tags=tuple(tags), date_ts=date_ts)])

        def found(**flt) -> set[str]:
            hits = store.search(
                "c", flt=SearchFilter("acme", DocumentFilter(**flt)), limit=10, mode=SearchMode.HYBRID, dense=[1, 0, 0, 0],
                sparse=([1], [1.0]),
            )
            return {h.payload.document_id for h in hits}

        assert found(tags=("policy", "finance")) == {"a", "b"}
        assert found(tags=("nothing",)) == set()
        assert found(date_from=150.0) == {"b", "c"} and found(date_to=200.0) == {"a", "b"}
        assert found(date_from=150.0, date_to=250.0, tags=("finance",)) == {"b"}

    def test_readers_never_see_two_versions_at_once(self, store):
        store.ensure_collection("c", DIM)
        store.replace_document("c", "d", 1, [record("d", 1, i, [1, 0, 0, i / 10], [1]) for i in range(20)])
        seen: list[tuple[set[int], int]] = []
        stop = threading.Event()

        def read():
            while not stop.is_set():
                hits = store.search("c", flt=SearchFilter(tenant="acme"), limit=100, mode=SearchMode.DENSE, dense=[1, 0, 0, 0])
                seen.append(({h.payload.version for h in hits}, len(hits)))

        readers = [threading.Thread(target=read) for _ in range(3)]  # readers side by side, and a writer
        for reader in readers:
            reader.start()
        try:
            for version in range(2, 12):
                store.replace_document("c", "d", version, [record("d", version, i, [1, 0, 0, i / 10], [1]) for i in range(20)])
        finally:
            stop.set()
            for reader in readers:
                reader.join()
        # Each search saw one whole version: never two at once, never none, never part of one.
        assert seen and all(len(versions) == 1 and hits == 20 for versions, hits in seen)
        assert store.count("c", "d") == 20

    def test_on_staged_runs_with_the_new_version_written_but_invisible(self, store):
        store.ensure_collection("c", DIM)
        store.replace_document("c", "d", 1, [record("d", 1, i, [1, 0, 0, i / 10], [1]) for i in range(3)])
        seen = []

        def staged():  # a process killed here leaves version 1 live and version 2 written but staged (not counted)
            seen.append(({c.payload.version for c in store.chunks("c", "d")}, store.count("c", "d")))

        store.replace_document("c", "d", 2, [record("d", 2, i, [1, 0, 0, i / 10], [1]) for i in range(5)], on_staged=staged)
        assert seen == [({1, 2}, 3)]
        assert {c.payload.version for c in store.chunks("c", "d")} == {2} and store.count("c", "d") == 5

    def test_search_on_missing_collection_is_empty(self, store):
        assert store.search("nope", flt=SearchFilter(tenant="acme"), limit=3, mode=SearchMode.DENSE, dense=[1, 0, 0, 0]) == []
        assert store.count("nope") == 0


class TestEdgeVectorStore(VectorStoreContract):
    @pytest.fixture
    def store(self, tmp_path):
        s = EdgeVectorStore(tmp_path / "qdrant")
        yield s
        s.close()

    def test_data_survives_reopening(self, tmp_path):
        first = EdgeVectorStore(tmp_path / "q")
        first.ensure_collection("c", DIM)
        first.replace_document("c", "d1", 1, [record("d1", 1, 0, [1, 0, 0, 0], [1])])
        first.optimize("c")
        first.close()
        second = EdgeVectorStore(tmp_path / "q")
        assert second.count("c", "d1") == 1
        second.close()

    def test_searches_run_side_by_side_and_wait_for_a_write(self, store):
        """Searches share the store's read lock (one does not wait for another to let go of it; the engine itself
        still runs them one at a time, since it holds the GIL), but a search waits while a document is being swapped."""
        store.ensure_collection("c", DIM)
        store.replace_document("c", "d", 1, [record("d", 1, 0, [1, 0, 0, 0], [1])])

        def search():
            return store.search("c", flt=SearchFilter(tenant="acme"), limit=3, mode=SearchMode.DENSE, dense=[1, 0, 0, 0])

        with ThreadPoolExecutor(1) as pool:
            with store._reading("c"):  # another search holds the shard
                assert len(pool.submit(search).result(timeout=10)) == 1
            with store._lock.write_lock():  # a write in progress
                waiting = pool.submit(search)
                time.sleep(0.3)
                assert not waiting.done()
            assert len(waiting.result(timeout=10)) == 1

    def test_a_creation_killed_half_way_is_redone(self, tmp_path):
        """`cairn serve` SIGKILLed while Qdrant Edge created a shard left a write-ahead log and no segments (seen in
        the stage-kill test): loading it failed, and every later file of that collection failed with it. Such a
        directory, or the scratch one the store now builds shards in, is an absent collection that is created again."""
        root = tmp_path / "q"
        (root / "c" / "wal").mkdir(parents=True)
        (root / "c" / "wal" / "tmp-open-1").write_bytes(b"\0" * 1024)
        (root / "c" / "segments").mkdir()
        (root / "d.creating" / "wal").mkdir(parents=True)
        store = EdgeVectorStore(root)
        try:
            assert not store.collection_exists("c") and store.count("c") == 0
            for name in ("c", "d"):
                store.ensure_collection(name, DIM)
                store.replace_document(name, "d1", 1, [record("d1", 1, 0, [1, 0, 0, 0], [1])])
                assert store.count(name, "d1") == 1
            assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == ["c", "d"]
        finally:
            store.close()

    def test_a_second_process_is_refused(self, tmp_path):
        owner = EdgeVectorStore(tmp_path / "q")
        try:
            probe = textwrap.dedent(
                f"""
                from core.vectorstore.edge import EdgeVectorStore
                from core.vectorstore import StoreLocked
                try:
                    EdgeVectorStore(__import__("pathlib").Path({str(tmp_path / "q")!r}))
                except StoreLocked as exc:
                    print("LOCKED", exc)
                """
            )
            out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
            assert "LOCKED" in out.stdout and "another process" in out.stdout, out.stderr
        finally:
            owner.close()
        assert StoreLocked  # the type users catch


class TestProcessVectorStore(VectorStoreContract):
    """The Edge index owned by a child process (`CAIRN_QDRANT__INDEX_PROCESS`)."""

    @pytest.fixture
    def store(self, tmp_path):
        s = ProcessVectorStore(tmp_path / "qdrant")
        yield s
        s.close()

    def test_the_settings_pick_it_and_a_second_owner_is_refused_with_the_stores_own_error(self, tmp_path):
        from core.settings import Settings

        settings = Settings(data_dir=tmp_path / "data", qdrant={"index_process": True}, _env_file=None)
        store = build_vector_store(settings)
        try:
            assert isinstance(store, ProcessVectorStore)
            with pytest.raises(StoreLocked, match="another process"):
                EdgeVectorStore(settings.resolved_data_dir / "qdrant")  # the child owns the shard
            with pytest.raises(StoreLocked, match="another process"):
                ProcessVectorStore(settings.resolved_data_dir / "qdrant")
        finally:
            store.close()
        EdgeVectorStore(settings.resolved_data_dir / "qdrant").close()  # closed: the shard is free again

    def test_a_dead_index_process_fails_one_call_and_the_next_starts_it_again(self, store, caplog):
        store.ensure_collection("c", DIM)
        store.replace_document("c", "d1", 1, [record("d1", 1, 0, [1, 0, 0, 0], [1])])
        child = store._process
        child.kill()
        child.wait(10)
        with pytest.raises(StoreUnavailable, match="index process stopped"):
            store.count("c")  # this thread's connection is cut
        assert "index process" in caplog.text and "starting it again" in caplog.text  # operators see it in the log
        assert store.count("c", "d1") == 1  # nothing written was lost
        assert store._process.pid != child.pid
        store._process.kill()
        store._process.wait(10)
        with ThreadPoolExecutor(1) as pool, pytest.raises(StoreUnavailable, match="index process stopped"):
            pool.submit(store.count, "c").result()  # a thread that never called: its connection is refused
        assert store.count("c", "d1") == 1

    def test_an_index_process_that_cannot_start_again_fails_calls_as_unavailable_until_it_can(self, tmp_path):
        store = ProcessVectorStore(tmp_path / "q")
        try:
            store.ensure_collection("c", DIM)
            store._process.kill()
            store._process.wait(10)
            intruder = EdgeVectorStore(tmp_path / "q")  # takes the shard while no index process holds it
            with pytest.raises(StoreUnavailable, match="could not be started again"):
                store.count("c")
            with pytest.raises(StoreUnavailable, match="could not be started again"):
                store.count("c")
            intruder.close()
            with pytest.raises(StoreUnavailable):
                store.count("c")  # the failed start's connection: this call starts it
            assert store.collection_exists("c")
        finally:
            store.close()

    def test_closing_twice_is_harmless_and_a_closed_store_starts_nothing(self, store):
        store.ensure_collection("c", DIM)
        store.close()
        store.close()
        with pytest.raises(StoreUnavailable, match="closed"):
            store.count("c")

    def test_a_signal_to_the_process_group_leaves_the_index_to_its_parent(self, store):
        """systemd and terminals signal every process of the group: the parent may still be finishing writes."""
        store.ensure_collection("c", DIM)
        os.kill(store._process.pid, signal.SIGTERM)
        os.kill(store._process.pid, signal.SIGINT)  # Ctrl+C in a terminal
        time.sleep(0.5)
        store.replace_document("c", "d1", 1, [record("d1", 1, 0, [1, 0, 0, 0], [1])])
        assert store.count("c", "d1") == 1

    def test_the_index_process_ends_with_its_parent_and_frees_the_shard(self, tmp_path):
        root = tmp_path / "q"
        owner = textwrap.dedent(
            f"""
            import pathlib, sys, time
            from core.vectorstore.process import ProcessVectorStore
            if __name__ == "__main__":
                store = ProcessVectorStore(pathlib.Path({str(root)!r}))
                store.ensure_collection("c", 4)
                print("OPEN", flush=True)
                time.sleep(60)
            """
        )
        script = tmp_path / "owner.py"
        script.write_text(owner)
        proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "OPEN"
            with pytest.raises(StoreLocked):
                EdgeVectorStore(root)
            proc.kill()  # SIGKILL: no clean-up runs in the parent
            proc.wait(10)
            restarted = ProcessVectorStore(root)  # at once, as a supervisor restarting the API would
            assert restarted.collection_exists("c")
            restarted.close()
        finally:
            proc.kill()


class TestServerVectorStore(VectorStoreContract):
    @pytest.fixture
    def store(self, tmp_path):
        s = ServerVectorStore.connect(url=None, location=":memory:", api_key=None, timeout_s=5)
        yield s
        s.close()

    def test_readers_never_see_two_versions_at_once(self, store):
        pytest.skip("qdrant-client's local mode is not thread-safe (a Qdrant server is); covered on Edge")

    def test_a_search_after_the_first_is_one_request_and_a_collection_dropped_elsewhere_is_empty(self, store):
        store.ensure_collection("c", DIM)
        store.replace_document("c", "d1", 1, [record("d1", 1, 0, [1, 0, 0, 0], [1])])
        calls = []
        client = store._client
        for method in ("collection_exists", "query_batch_points"):
            real = getattr(client, method)
            setattr(client, method, lambda *a, _real=real, _name=method, **k: (calls.append(_name), _real(*a, **k))[1])
        search = dict(flt=SearchFilter(tenant="acme"), limit=3, mode=SearchMode.HYBRID, dense=[1, 0, 0, 0], sparse=([1], [1.0]))
        assert len(store.search("c", **search)) == 1 and len(store.search("c", **search)) == 1
        assert calls == ["query_batch_points", "query_batch_points"]  # no existence check before each query
        del client.collection_exists, client.query_batch_points
        client.delete_collection("c")  # as another process would
        assert store.search("c", **search) == [] and not store.collection_exists("c")


class TestServerVectorStoreOnDisk(VectorStoreContract):
    """qdrant-client's local mode on a folder (`CAIRN_QDRANT__PATH`): the reliability runs' stand-in for a server."""

    @pytest.fixture
    def store(self, tmp_path):
        s = ServerVectorStore.connect(url=None, location=None, api_key=None, timeout_s=5, path=tmp_path / "local")
        yield s
        s.close()

    def test_readers_never_see_two_versions_at_once(self, store):
        pytest.skip("qdrant-client's local mode is not thread-safe (a Qdrant server is); covered on Edge")

    def test_data_survives_reopening_and_the_settings_pick_it(self, tmp_path):
        from core.settings import Settings, VectorStoreName

        settings = Settings(data_dir=tmp_path / "data", qdrant={"path": tmp_path / "local"}, _env_file=None)
        assert settings.vector_store is VectorStoreName.QDRANT and settings.embedded_index  # one process owns it
        first = build_vector_store(settings)
        first.ensure_collection("c", DIM)
        first.replace_document("c", "d1", 1, [record("d1", 1, 0, [1, 0, 0, 0], [1])])
        first.close()
        second = build_vector_store(settings)
        assert second.count("c", "d1") == 1
        second.close()
