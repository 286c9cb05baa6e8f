"""Qdrant Edge backend: Qdrant's Rust engine in this process, one shard directory per collection.

A shard can be opened by one process only, so the store takes an exclusive file lock on its directory and
fails fast with `StoreLocked` when another process (a running `cairn serve`, say) owns it.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import qdrant_edge as qe
from fasteners import ReaderWriterLock
from filelock import FileLock, Timeout

from core.types import ChunkRecord, ScoredChunk
from core.vectorstore.base import (
    DENSE,
    LIVE,
    RRF_K,
    SPARSE,
    STAGED,
    STATE,
    TEXT_BATCH,
    Fusion,
    SearchFilter,
    SearchMode,
    StoreLocked,
    scored,
    with_rrf_scores,
)
from core.vectorstore.filters import (
    Conditions,
    document_filter,
    one_version,
    other_versions,
    search_filter,
    texts_elsewhere,
    visible_filter,
)

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")
_SCRATCH = ".creating"


def _holds_a_shard(path: Path) -> bool:
    """Qdrant Edge writes its config last when it creates a shard, and loads a shard from its config or its segments:
    a directory with neither is a creation that was interrupted, and holds no data."""
    segments = path / "segments"
    return (path / "edge_config.json").is_file() or (segments.is_dir() and any(segments.iterdir()))


# Qdrant Edge's spelling of the conditions in core.vectorstore.filters.
EDGE = Conditions(
    match=lambda key, value: qe.FieldCondition(key=key, match=qe.MatchValue(value)),
    match_any=lambda key, values: qe.FieldCondition(key=key, match=qe.MatchAny(values)),
    within=lambda key, gte, lte: qe.FieldCondition(key=key, range=qe.RangeFloat(gte=gte, lte=lte)),
    combine=lambda must, must_not: qe.Filter(must=must, must_not=must_not),
)



class EdgeVectorStore:
    def __init__(self, root: Path):
        self._root = root
        self._root.mkdir(parents=True, exist_ok=True)
        self._lock_file = FileLock(str(root / ".owner.lock"))
        try:
            self._lock_file.acquire(timeout=0)
        except Timeout as exc:
            raise StoreLocked(
                f"the embedded index at {root} is open in another process (is `cairn serve` or `cairn worker` "
                "running?). Stop it, or send the work to its API."
            ) from exc
        self._shards: dict[str, qe.EdgeShard] = {}
        # Reads share the lock; a write holds it alone, which makes a document swap atomic for every reader. Opening,
        # creating and closing a shard are writes. (Reads still run one at a time: qdrant-edge-py 0.9 holds the GIL
        # while it searches, so a process serves at most one search per Qdrant query time; measured 2026-12-07.)
        self._lock = ReaderWriterLock()

    def _path(self, name: str) -> Path:
        if not _SAFE_NAME.match(name):
            raise ValueError(f"invalid collection name {name!r}")
        return self._root / name

    def _shard(self, name: str) -> qe.EdgeShard | None:
        """The open shard (opened on first use); call it holding the write lock."""
        shard = self._shards.get(name)
        if shard is None:
            path = self._path(name)
            if _holds_a_shard(path):
                shard = self._shards[name] = qe.EdgeShard.load(str(path))
        return shard

    @contextmanager
    def _reading(self, name: str) -> Iterator[qe.EdgeShard | None]:
        """The shard for a read, held open under the shared lock (None: the collection does not exist)."""
        if name not in self._shards:
            with self._lock.write_lock():
                self._shard(name)
        with self._lock.read_lock():
            yield self._shards.get(name)

    def collection_exists(self, name: str) -> bool:
        with self._reading(name) as shard:
            return shard is not None

    def ensure_collection(self, name: str, dim: int) -> None:
        with self._lock.write_lock():
            if self._shard(name) is not None:
                return
            # Built whole in a scratch directory, then renamed into place: a process killed while creating it
            # leaves only scratch (removed here next time), never a shard directory that cannot be loaded.
            path = self._path(name)
            scratch = path.with_name(path.name + _SCRATCH)
            shutil.rmtree(scratch, ignore_errors=True)
            shutil.rmtree(path, ignore_errors=True)  # a creation interrupted before this scratch step: it holds nothing
            config = qe.EdgeConfig(
                vectors={DENSE: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine)},
                sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
            )
            shard = qe.EdgeShard.create(str(scratch), config)
            shard.update(qe.UpdateOperation.create_field_index("tenant", qe.KeywordIndexParams(is_tenant=True)))
            shard.update(qe.UpdateOperation.create_field_index("document_id", qe.PayloadSchemaType.Keyword))
            shard.update(qe.UpdateOperation.create_field_index("source", qe.PayloadSchemaType.Keyword))
            shard.update(qe.UpdateOperation.create_field_index(STATE, qe.PayloadSchemaType.Keyword))
            shard.flush()
            shard.close()
            scratch.rename(path)
            self._shards[name] = qe.EdgeShard.load(str(path))

    def drop_collection(self, name: str) -> None:
        with self._lock.write_lock():
            shard = self._shards.pop(name, None)
            if shard is not None:
                shard.close()
            shutil.rmtree(self._path(name), ignore_errors=True)

    def _require(self, name: str) -> qe.EdgeShard:
        with self._lock.write_lock():
            shard = self._shard(name)
        if shard is None:
            raise KeyError(f"collection {name!r} does not exist")
        return shard

    def replace_document(
        self, name: str, document_id: str, version: int, records: list[ChunkRecord], on_staged: Callable[[], None] | None = None
    ) -> None:
        self.stage_document(name, records)
        if on_staged is not None:
            on_staged()
        self.publish_document(name, document_id, version)

    def stage_document(self, name: str, records: list[ChunkRecord]) -> None:
        """The first half of `replace_document`: a version's points written staged, invisible to readers."""
        shard = self._require(name)
        points = [
            qe.Point(
                id=r.id,
                vector={DENSE: r.dense, SPARSE: qe.SparseVector(indices=r.sparse_indices, values=r.sparse_values)},
                payload={**r.payload.as_dict(), STATE: STAGED},
            )
            for r in records
        ]
        # Staged points are invisible to readers (they filter the staged state). Each batch still takes the write lock: a
        # query running during an upsert can see a point before its payload index entry, which would leak staged ones.
        for start in range(0, len(points), 256):
            with self._lock.write_lock():
                shard.update(qe.UpdateOperation.upsert_points(points[start : start + 256]))

    def publish_document(self, name: str, document_id: str, version: int) -> None:
        """The second half: the staged version made visible and every other version removed, in one step."""
        shard = self._require(name)
        with self._lock.write_lock():
            shard.update(qe.UpdateOperation.delete_points_by_filter(other_versions(document_id, version, EDGE)))
            shard.update(qe.UpdateOperation.set_payload_by_filter(one_version(document_id, version, EDGE), {STATE: LIVE}))

    def delete_document(self, name: str, document_id: str) -> None:
        with self._lock.write_lock():
            shard = self._shard(name)
            if shard is not None:
                shard.update(qe.UpdateOperation.delete_points_by_filter(document_filter(document_id, EDGE)))

    def count(self, name: str, document_id: str | None = None) -> int:
        with self._reading(name) as shard:
            if shard is None:
                return 0
            return shard.count(qe.CountRequest(exact=True, filter=visible_filter(document_id, EDGE)))

    def chunks(self, name: str, document_id: str) -> list[ScoredChunk]:
        with self._reading(name) as shard:
            if shard is None:
                return []
            found: list[ScoredChunk] = []
            offset = None
            while True:
                records, offset = shard.scroll(
                    qe.ScrollRequest(offset=offset, limit=512, filter=document_filter(document_id, EDGE), with_payload=True)
                )
                found.extend(scored(r) for r in records)
                if offset is None:
                    return found

    def texts_in_use(self, name: str, texts: list[str], exclude_document_id: str) -> set[str]:
        with self._reading(name) as shard:
            if shard is None:
                return set()
            used: set[str] = set()
            for start in range(0, len(texts), TEXT_BATCH):
                flt = texts_elsewhere(texts[start : start + TEXT_BATCH], exclude_document_id, EDGE)
                offset = None
                while True:
                    records, offset = shard.scroll(qe.ScrollRequest(offset=offset, limit=512, filter=flt, with_payload=True))
                    used.update(r.payload["text"] for r in records)
                    if offset is None:
                        break
            return used

    def search(
        self,
        name: str,
        *,
        flt: SearchFilter,
        limit: int,
        mode: SearchMode,
        dense: list[float] | None = None,
        sparse: tuple[list[int], list[float]] | None = None,
        fusion: Fusion = Fusion.RRF,
        prefetch_limit: int = 100,
        rrf_scores: bool = False,
    ) -> list[ScoredChunk]:
        edge_filter = search_filter(flt, EDGE)
        # Hybrid hits carry their RRF score: from the RRF query, run in the same call as the DBSF one when both are wanted.
        with_rrf = mode is SearchMode.HYBRID and (fusion is Fusion.RRF or rrf_scores)
        dense_query = qe.Query.Nearest(dense, using=DENSE) if dense is not None else None
        sparse_query = (
            qe.Query.Nearest(qe.SparseVector(indices=sparse[0], values=sparse[1]), using=SPARSE) if sparse else None
        )
        if mode is SearchMode.DENSE:
            requests = [qe.QueryRequest(limit=limit, query=dense_query, filter=edge_filter, with_payload=True)]
        elif mode is SearchMode.SPARSE:
            requests = [qe.QueryRequest(limit=limit, query=sparse_query, filter=edge_filter, with_payload=True)]
        else:
            prefetches = [
                qe.Prefetch(limit=prefetch_limit, query=q, filter=edge_filter)
                for q in (dense_query, sparse_query)
                if q is not None
            ]
            requests = []
            if fusion is Fusion.DBSF:
                requests.append(qe.QueryRequest(limit=limit, prefetches=prefetches, query=qe.Fusion.Dbsf(), filter=edge_filter,
                                                with_payload=True))
            if with_rrf:
                requests.append(qe.QueryRequest(limit=limit, prefetches=prefetches, query=qe.Fusion.Rrf(k=RRF_K),
                                                filter=edge_filter, with_payload=fusion is Fusion.RRF))
        with self._reading(name) as shard:
            if shard is None:
                return []
            responses = shard.query_batch(qe.QueryBatchRequest(requests))
        found = [scored(p) for p in responses[0]]
        return with_rrf_scores(found, responses[-1]) if with_rrf else found

    def optimize(self, name: str) -> None:
        with self._lock.write_lock():
            shard = self._shard(name)
            if shard is not None:
                shard.optimize()

    def close(self) -> None:
        with self._lock.write_lock():
            for shard in self._shards.values():
                shard.flush()
                shard.close()
            self._shards.clear()
            if self._lock_file.is_locked:
                self._lock_file.release()
