"""IR benchmark on a BEIR-layout folder: nDCG@10, Recall@100 and MRR@10 over whole documents, per retrieval mode.

The corpus is ingested through the real ingestion service (chunked with the configured strategy, embeddings
cached, so a rerun re-embeds nothing); chunk hits are mapped to documents by their best chunk."""

from __future__ import annotations

import csv
import json
import math
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from core.vectorstore import SearchMode
from eval.services import EvalServices
from ingest.pipeline import IngestTarget
from retrieval.search import Query

MODES = ("dense", "sparse", "hybrid", "hybrid+rerank")


def check_modes(modes) -> tuple[str, ...]:
    chosen = tuple(m.strip() for m in modes if m.strip())
    if unknown := set(chosen) - set(MODES):
        raise ValueError(f"unknown mode(s) {', '.join(sorted(unknown))}; choose from {', '.join(MODES)}")
    return chosen


COLLECTION = "beir"


def document_text(doc: dict) -> str:
    """A BEIR document as Cairn ingests it: its title, a blank line, its text."""
    return f"{doc.get('title', '')}\n\n{doc['text']}"


def write_documents(corpus: Path, folder: Path, limit: int | None = None) -> int:
    """The first `limit` documents of a BEIR corpus.jsonl as text files `<id>.txt` in `folder`; returns how many."""
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    with corpus.open() as handle:
        for line in handle:
            if limit is not None and count >= limit:
                break
            doc = json.loads(line)
            (folder / f"{doc['_id']}.txt").write_text(document_text(doc), encoding="utf-8")
            count += 1
    return count


@dataclass
class BeirData:
    corpus: dict[str, dict]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load(folder: Path, split: str = "test") -> BeirData:
    corpus = {}
    with (folder / "corpus.jsonl").open() as handle:
        for line in handle:
            doc = json.loads(line)
            corpus[doc["_id"]] = doc
    qrels: dict[str, dict[str, int]] = {}
    with (folder / "qrels" / f"{split}.tsv").open(newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if int(row["score"]) > 0:
                qrels.setdefault(row["query-id"].strip(), {})[row["corpus-id"].strip()] = int(row["score"])
    queries = {}
    with (folder / "queries.jsonl").open() as handle:
        for line in handle:
            q = json.loads(line)
            if q["_id"] in qrels:
                queries[q["_id"]] = q["text"]
    return BeirData(corpus, queries, qrels)


def ndcg_at(ranked: list[str], relevant: dict[str, int], k: int = 10) -> float:
    dcg = sum(relevant.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(rel / math.log2(i + 2) for i, rel in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: list[str], relevant: dict[str, int], k: int = 100) -> float:
    return len(set(ranked[:k]) & set(relevant)) / len(relevant) if relevant else 0.0


def mrr_at(ranked: list[str], relevant: dict[str, int], k: int = 10) -> float:
    for i, doc in enumerate(ranked[:k]):
        if doc in relevant:
            return 1.0 / (i + 1)
    return 0.0


def index_corpus(services: EvalServices, data: BeirData, tenant: str, strategy: str) -> dict[str, str]:
    """Ingests every corpus document (title + text, as one text file); returns Cairn document id -> BEIR id."""
    target = IngestTarget(tenant, COLLECTION, strategy)
    service = services.ingest
    with tempfile.TemporaryDirectory() as tmp:

        def one(item: tuple[str, dict]) -> tuple[str | None, str]:
            beir_id, doc = item
            path = Path(tmp) / f"{beir_id}.txt"
            path.write_text(document_text(doc), encoding="utf-8")
            return service.ingest(path, display=path.name, source=f"beir:{beir_id}", target=target).document_id, beir_id

        # As many threads as the worker runs: the service is shared by worker threads the same way.
        with ThreadPoolExecutor(services.settings.worker.concurrency) as pool:
            return {doc_id: beir_id for doc_id, beir_id in pool.map(one, data.corpus.items()) if doc_id}


def run(services: EvalServices, folder: Path, *, split: str = "test", modes=MODES, limit: int | None = None) -> dict:
    settings = services.settings
    strategy = settings.chunking.strategy
    data = load(folder, split)
    started = time.perf_counter()
    ids = index_corpus(services, data, settings.tenant, strategy)
    indexed_s = time.perf_counter() - started
    query_ids = sorted(data.queries)[:limit] if limit else sorted(data.queries)
    results: dict[str, dict] = {}
    for mode in modes:
        search_mode = SearchMode.HYBRID if mode.startswith("hybrid") else SearchMode(mode)
        scores = {"ndcg@10": [], "recall@100": [], "mrr@10": []}
        latencies = []
        mode_started = time.perf_counter()
        for qid in query_ids:
            q = Query(
                data.queries[qid], settings.tenant, COLLECTION, strategy=strategy, top_k=100, mode=search_mode,
                rerank=mode.endswith("+rerank"),
            )
            t = time.perf_counter()
            hits = services.search.retrieve(q).hits
            latencies.append(time.perf_counter() - t)
            ranked = list(dict.fromkeys(ids[h.document_id] for h in hits if h.document_id in ids))
            relevant = data.qrels[qid]
            scores["ndcg@10"].append(ndcg_at(ranked, relevant))
            scores["recall@100"].append(recall_at(ranked, relevant))
            scores["mrr@10"].append(mrr_at(ranked, relevant))
        latencies.sort()
        results[mode] = {name: round(sum(v) / len(v), 4) for name, v in scores.items()} | {
            "seconds": round(time.perf_counter() - mode_started, 1),
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        }
    best = "hybrid" if "hybrid" in results else next(iter(results))
    default_mode = "hybrid+rerank" if settings.retrieval.rerank and "hybrid+rerank" in results else best
    return {
        "suite": "beir",
        "dataset": folder.name,
        "split": split,
        "queries": len(query_ids),
        "documents": len(data.corpus),
        "modes": results,
        # the figures of the default settings, at the top level (what `cairn search` does out of the box)
        **{k: results[default_mode][k] for k in ("ndcg@10", "recall@100", "mrr@10")},
        "default_mode": default_mode,
        "seconds": round(time.perf_counter() - started, 1),
        "indexing_seconds": round(indexed_s, 1),
        "versions": {
            "embedder": services.embedder.model_id,
            "reranker": services.reranker.model_id,
            "strategy": strategy,
            "chunk_size": settings.chunking.chunk_size,
            "chunk_overlap": settings.chunking.chunk_overlap,
            "fusion": settings.retrieval.fusion,
            "rerank_depth": settings.retrieval.rerank_depth,
            "corpus": services.catalog.record_corpus_version(settings.tenant, COLLECTION),
        },
    }
