"""Fault injection for the reliability benchmarks and the tests: a TCP proxy in front of a real service (Postgres,
Redis, an LLM endpoint) that can be cut, so the service really becomes unreachable for Cairn while it stays up for
everyone else; a real `cairn worker` process to SIGKILL mid-document; the index checks after it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import uuid

import qdrant_edge as qe

from benchmarks.common import ROOT, SHARED_DATA, SPEECH
from core.settings import Settings
from core.vectorstore.edge import EdgeVectorStore
from eval.beir import write_documents
from ingest.pipeline import store_name


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, port: int = 0):
        """`port`: listen there (a proxy started again on a cut one's port is the service "restarting")."""
        self.target = (target_host, target_port)
        self._server = socket.create_server(("127.0.0.1", port))
        self.port = self._server.getsockname()[1]
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._up = True
        self._flowing = threading.Event()
        self._flowing.set()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return  # closed
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            # The timeout was for connecting: a connection quiet for a while (a worker blocked on BRPOP, or busy)
            # must stay open, or the proxy itself would drop the broker every few seconds and a task popped in
            # that instant would be lost with the connection (seen: a job that never finished).
            upstream.settimeout(None)
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self._flowing.wait()
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stall(self) -> None:
        """The service hangs: connections stay open, but nothing passes until `resume()` (nothing is lost)."""
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    def cut(self) -> None:
        """The service becomes unreachable: open connections are dropped and new ones refused."""
        self._up = False
        try:  # a listening socket closed under a blocked accept() would go on completing handshakes
            self._server.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._server.close()
        with self._lock:
            for s in self._open:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self._open.clear()

    def close(self) -> None:
        self._flowing.set()
        if self._up:
            self.cut()


class WorkerKills:
    """A real `cairn worker` process (embedded index, real Redis) that a test SIGKILLs mid-document and restarts.

    After the job completes, `check()` verifies what a killed worker must not cause: a document lost, a document
    half-indexed (staged points left, or fewer chunks than the catalog says), a chunk duplicated."""

    def __init__(self, data_dir, redis_url: str, visibility_s: int = 8, concurrency: int = 2, database_url: str | None = None):
        """`database_url`: the worker's Postgres (through a TcpProxy, say); unset, SQLite in the data dir."""
        self.data_dir = data_dir
        self.queue = f"cairn-kill-{uuid.uuid4().hex[:8]}"
        self.env = {
            **os.environ, "CAIRN_DATA_DIR": str(data_dir), "CAIRN_REDIS_URL": redis_url, "CAIRN_WORKER__QUEUE": self.queue,
            "CAIRN_WORKER__VISIBILITY_TIMEOUT_S": str(visibility_s), "CAIRN_WORKER__CONCURRENCY": str(concurrency),
            "CAIRN_LOG_FORMAT": "console",
            # Every stage change is written (not at most one per 0.5 s): on a fast machine a document's whole work can
            # take under two seconds, and a kill aimed at "in the middle of the speech" must be able to see it there.
            "CAIRN_WORKER__STAGE_WRITE_INTERVAL_S": "0",
        }
        if database_url:
            self.env["CAIRN_DATABASE_URL"] = database_url
        self.process = None
        self.kills = 0

    def settings(self, database_url: str | None = None):
        """The deployment's settings for a producer (`database_url`: its own way to the worker's database)."""
        return Settings(data_dir=self.data_dir, redis_url=self.env["CAIRN_REDIS_URL"], worker={"queue": self.queue},
                        database_url=database_url or self.env.get("CAIRN_DATABASE_URL"), _env_file=None)

    def start(self, log) -> None:

        self.process = subprocess.Popen([sys.executable, "-m", "api.cli", "worker"], cwd=ROOT, env=self.env, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        """SIGKILL the worker and its parser child (its process group): no chance to clean up or acknowledge."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.kills += 1

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except Exception:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)


def check_index(data_dir, catalog, collection: str, strategy: str, tenant: str = "default") -> dict:
    """Every live document of the catalog has exactly its chunks in the index, nothing else is there (no duplicate,
    no other version), and no staged point is left. Opens the index: the worker must have exited."""
    name = store_name("cairn", collection, strategy)
    store = EdgeVectorStore(data_dir / "qdrant")
    try:
        documents = catalog.list(tenant, collection, limit=100_000)
        expected = {}
        for document in documents:
            entry = next(e for e in catalog.index_entries(document.id) if e.strategy == strategy)
            expected[document.id] = entry.chunks
            chunks = store.chunks(name, document.id)
            assert len(chunks) == entry.chunks, (document.filename, len(chunks), entry.chunks)
            assert {c.payload.version for c in chunks} == {entry.version}, document.filename
            assert len({c.payload.chunk_index for c in chunks}) == entry.chunks, document.filename  # no duplicate
        visible = store.count(name)
        everything = all_points(store, name)
        assert visible == everything == sum(expected.values()), (visible, everything, sum(expected.values()))
        return {"documents": len(documents), "chunks": visible}
    finally:
        store.close()


def all_points(store, name: str) -> int:
    """Every point of a collection, staged ones too (the store's own count shows only live ones)."""
    if isinstance(store, EdgeVectorStore):
        return store._require(name).count(qe.CountRequest(exact=True))
    return store._client.count(name, exact=True).count


def write_inbox(folder, abstracts: int) -> None:
    """SciFact abstracts (one or two chunks each) and the State of the Union (about fifty: seconds of embedding)."""
    folder.mkdir()
    write_documents(SHARED_DATA / "beir" / "scifact" / "corpus.jsonl", folder, abstracts)
    (folder / SPEECH.name).write_text(SPEECH.read_text(encoding="utf-8"), encoding="utf-8")
