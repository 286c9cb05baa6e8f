"""The embedded (Qdrant Edge) index served by a process of its own (`CAIRN_QDRANT__INDEX_PROCESS`).

Qdrant Edge's Python binding holds the interpreter lock while it searches: in the process that owns the shard, every
other thread (request parsing, the query embedding, other searches) waits for the search in progress. Here a child
process (`python -m core.vectorstore.process`) owns the shard and this process sends it each call over a local socket
(a multiprocessing manager's protocol, with a key of its own), waiting with its own interpreter lock released. The
child is still the shard's one owner; it exits with this process, and if it dies, the call that finds it gone fails
as `StoreUnavailable` and the next one starts it again.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.managers import BaseManager
from pathlib import Path

from core.types import ChunkRecord, ScoredChunk
from core.vectorstore.base import StoreLocked, StoreUnavailable
from core.vectorstore.edge import EdgeVectorStore

PARENT_CHECK_S = 0.5
log = logging.getLogger("cairn.index")


class _Owner:
    """The child's side: opens the shard. (Opened by a method rather than as the manager's object, so that an error
    such as `StoreLocked` comes back as itself, not as a traceback.)"""

    def open(self, root: Path) -> EdgeVectorStore:
        return EdgeVectorStore(root)


class _IndexManager(BaseManager):
    pass


_IndexManager.register("Owner", _Owner, method_to_typeid={"open": "EdgeVectorStore"})
_IndexManager.register("EdgeVectorStore", create_method=False)


def serve(parent: int) -> None:
    """The index process (`python -m core.vectorstore.process PARENT_PID`, the key on stdin): prints the address it
    listens on, then serves until its parent stops it or is gone. It imports only the store, not the program that
    started it (multiprocessing's own start methods import that program's main module: the whole CLI, +160 MB)."""
    authkey = bytes.fromhex(sys.stdin.readline().strip())
    # Not ended by a SIGINT or SIGTERM sent to the whole process group (a terminal, systemd): the parent may still be
    # finishing writes, and it ends this process once it has closed the store.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def watch() -> None:  # the parent killed: end, so the shard's lock is freed
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    server = _IndexManager(authkey=authkey).get_server()
    print(server.address, flush=True)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # anything printed later goes where the parent logs, not to a pipe
    server.serve_forever()


class ProcessVectorStore:
    """The `VectorStore` of an Edge index owned by a child process."""

    def __init__(self, root: Path):
        self._root = root
        self._restart = threading.Lock()
        self._closed = False
        self._process, self._remote = self._start()

    def _start(self):
        authkey = secrets.token_bytes(32)
        process = subprocess.Popen([sys.executable, "-m", "core.vectorstore.process", str(os.getpid())],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            process.stdin.write(authkey.hex() + "\n")
            process.stdin.close()
            address = process.stdout.readline().strip()
            process.stdout.close()
            if not address:
                raise StoreUnavailable(f"the index process did not start (exit code {process.wait(30)})")
            manager = _IndexManager(address=address, authkey=authkey)
            manager.connect()
            owner = manager.Owner()
            # An owner killed a moment ago lets go of the shard when its index process notices (within
            # PARENT_CHECK_S): a restart right after is given that long before StoreLocked is raised.
            deadline = time.monotonic() + 3 * PARENT_CHECK_S
            while True:
                try:
                    return process, owner.open(self._root)
                except StoreLocked:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        except BaseException:
            _stop(process)
            raise

    def _call(self, method: str, *args, **kwargs):
        remote = self._remote
        try:
            return getattr(remote, method)(*args, **kwargs)
        except (EOFError, ConnectionError, FileNotFoundError) as exc:  # its socket closed, refused, or removed
            self._replace(remote)
            raise StoreUnavailable(f"the index process stopped during {method}; it has been started again") from exc

    def _replace(self, lost) -> None:
        with self._restart:
            if self._closed:
                raise StoreUnavailable("the index is closed")
            if self._remote is not lost:  # another thread has started it again already
                return
            log.warning("the index process of %s stopped; starting it again", self._root)
            _stop(self._process)
            try:
                self._process, self._remote = self._start()
            except Exception as exc:  # the next call tries again
                raise StoreUnavailable(f"the index process could not be started again: {exc}") from exc

    def ensure_collection(self, name: str, dim: int) -> None:
        self._call("ensure_collection", name, dim)

    def collection_exists(self, name: str) -> bool:
        return self._call("collection_exists", name)

    def drop_collection(self, name: str) -> None:
        self._call("drop_collection", name)

    def replace_document(
        self, name: str, document_id: str, version: int, records: list[ChunkRecord], on_staged: Callable[[], None] | None = None
    ) -> None:
        self._call("stage_document", name, records)
        if on_staged is not None:  # runs here, in the caller's process (the pipeline's failpoint, say)
            on_staged()
        self._call("publish_document", name, document_id, version)

    def delete_document(self, name: str, document_id: str) -> None:
        self._call("delete_document", name, document_id)

    def count(self, name: str, document_id: str | None = None) -> int:
        return self._call("count", name, document_id)

    def chunks(self, name: str, document_id: str) -> list[ScoredChunk]:
        return self._call("chunks", name, document_id)

    def texts_in_use(self, name: str, texts: list[str], exclude_document_id: str) -> set[str]:
        return self._call("texts_in_use", name, texts, exclude_document_id)

    def search(self, name: str, **query) -> list[ScoredChunk]:
        # The query's parameters and their defaults are the Edge store's own (VectorStore.search).
        return self._call("search", name, **query)

    def optimize(self, name: str) -> None:
        self._call("optimize", name)

    def close(self) -> None:
        with self._restart:
            if self._closed:
                return
            self._closed = True
            try:
                self._remote.close()
            except (EOFError, ConnectionError, FileNotFoundError):
                pass  # the child is gone already
            _stop(self._process)


def _stop(process: subprocess.Popen) -> None:
    """Ends the index process (SIGKILL: it ignores the others; its store is closed or its parent gone by then)."""
    process.kill()
    process.wait(30)
    process.stdout.close()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
