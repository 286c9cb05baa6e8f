"""Latency of /v1/search and /v1/answer (extractive) per stage, and requests per second at a few concurrencies,
through the real HTTP server on loopback (its clients in a process of their own), on one or more index sizes
measured side by side in one run (with each size's p99 as a ratio to the smallest's).

The index holds the real SciFact corpus (ingested through the pipeline; embeddings are cached, so reruns are quick)
plus filler chunks up to --chunks: real SciFact sentences shuffled into new passages, with their own BM25 vectors
and random unit dense vectors (search cost depends on the index size, not on what the vectors mean).
Questions are SciFact test claims. Writes benchmarks/results/answer_latency.json. Not a test: `make bench-latency`
(50,000 chunks), `make bench-scale` (10k, 100k and 1M chunks; the 1M index takes most of an hour to build once).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.offline import configure_offline  # noqa: E402

configure_offline()

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import uvicorn  # noqa: E402

from api.app import create_app  # noqa: E402
from api.root import Root  # noqa: E402
from benchmarks.common import Target, free_port, machine, print_targets, rss_mb  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.types import ChunkPayload, ChunkRecord, chunk_id_for  # noqa: E402
from eval.beir import COLLECTION, BeirData, index_corpus, load  # noqa: E402
from eval.runs import EVAL_TENANT  # noqa: E402
from ingest.pipeline import store_name  # noqa: E402


def add_filler(runtime: Root, target_chunks: int, seed: int = 7) -> int:
    settings = runtime.settings
    name = store_name(settings.qdrant.prefix, COLLECTION, settings.chunking.strategy)
    have = runtime.store.count(name)
    if have >= target_chunks:
        return have
    rng = np.random.default_rng(seed)
    words = " ".join(
        c.payload.text for row in runtime.catalog.list(settings.tenant, COLLECTION, limit=300) for c in runtime.store.chunks(name, row.id)
    ).split()
    sparse = runtime.ingest.sparse
    # Filler documents of 500 chunks: fewer per-document operations (each one stages, then publishes), so that a
    # million chunks build in well under an hour; search sees the same number of points either way.
    per_doc, started = 500, time.perf_counter()
    for first in range(0, target_chunks - have, per_doc):
        count = min(per_doc, target_chunks - have - first)
        vectors = rng.normal(size=(count, runtime.embedder.dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        picks = rng.integers(0, len(words), size=(count, 120))
        document_id = f"filler-{have + first}"
        records = []
        for i in range(count):
            text = " ".join(words[j] for j in picks[i])
            indices, values = sparse.encode_document(text)
            payload = ChunkPayload(
                tenant=settings.tenant, collection=COLLECTION, strategy=settings.chunking.strategy,
                document_id=document_id, source=f"filler://{document_id}", title="filler", chunk_index=i, text=text,
                start=0, end=len(text),
            )
            records.append(ChunkRecord(chunk_id_for(document_id, 1, i), vectors[i].tolist(), indices, values, payload))
        runtime.store.replace_document(name, document_id, 1, records)
        done = first + count
        if done % 50_000 < per_doc:
            print(f"filler: {have + done} chunks ({time.perf_counter() - started:.0f} s)", flush=True)
    print("optimizing (HNSW build)...", flush=True)
    runtime.store.optimize(name)
    return runtime.store.count(name)


def percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1) if values else 0.0


def measure(base: str, route: str, bodies: list[dict], concurrency: int) -> dict:
    latencies, stages, errors = [], {}, 0
    lock = threading.Lock()

    def one(body: dict) -> None:
        nonlocal errors
        started = time.perf_counter()
        response = client.post(route, json=body)
        elapsed = (time.perf_counter() - started) * 1000
        with lock:
            if response.status_code != 200:
                errors += 1
                return
            latencies.append(elapsed)
            for stage, ms in response.json().get("timings_ms", {}).items():
                stages.setdefault(stage, []).append(ms)

    with httpx.Client(base_url=base, timeout=120) as client, ThreadPoolExecutor(concurrency) as pool:
        started = time.perf_counter()
        list(pool.map(one, bodies))
        wall = time.perf_counter() - started
    return {
        "concurrency": concurrency,
        "requests": len(bodies),
        "errors": errors,
        "rps": round(len(latencies) / wall, 2),
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "stages_ms": {s: {"p50": percentile(v, 50), "p95": percentile(v, 95), "p99": percentile(v, 99)} for s, v in stages.items()},
    }


def open_index(data: BeirData, base_dir: Path, data_dir: Path, chunks: int,
               overrides: dict | None = None) -> tuple[Root, int, float]:
    """A runtime on `chunks` chunks: SciFact (ingested once into `base_dir`, then copied) plus filler, with these
    settings changed (by section, e.g. {"answer": {"scored_sentences": 8}}; none: the defaults)."""
    started = time.perf_counter()
    if not data_dir.exists():
        if not (base_dir / "done").exists():
            base = Root(bench_settings(base_dir))
            index_corpus(base.eval_services(), data, EVAL_TENANT, base.settings.chunking.strategy)
            base.close()
            (base_dir / "done").touch()
        shutil.copytree(base_dir, data_dir)
    runtime = Root(bench_settings(data_dir, overrides))
    runtime.open_ingestion()
    count = add_filler(runtime, chunks)
    return runtime, count, time.perf_counter() - started


def bench_settings(data_dir: Path, overrides: dict | None = None) -> Settings:
    # The answer cache is off: the same questions are asked at each concurrency, and this measures the pipeline.
    return Settings(data_dir=data_dir, collection=COLLECTION, tenant=EVAL_TENANT, **{"cache": {"enabled": False},
                    **(overrides or {})}, _env_file=None)


def parse_variants(spec: str, scored: str) -> list[dict]:
    """Settings to measure side by side, by section: "default;scored_share=0.5;qdrant.index_process=true" (a `;`
    between variants, a `,` between the settings of one; a name without a section is an answer setting; `default`
    is the defaults), or the older --scored-sentences list "10,8"."""
    if scored:
        return [{"answer": {"scored_sentences": int(v)}} for v in scored.split(",") if v]
    variants = []
    for variant in (v.strip() for v in spec.split(";") if v.strip()):
        pairs = [] if variant == "default" else (item.split("=", 1) for item in variant.split(",") if item.strip())
        sections: dict[str, dict] = {}
        for key, value in pairs:
            section, _, name = key.strip().rpartition(".")
            sections.setdefault(section or "answer", {})[name] = json.loads(value)
        variants.append(sections)
    return variants or [{}]


def measure_index(runtime: Root, questions: list[str], requests: int, concurrencies: list[int], answers_only: bool = False) -> dict:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.1)
    base = f"http://127.0.0.1:{port}"
    result = {"search": [], "answer": []}
    # The clients run in a process of their own, as real clients do: threads of the server's process would hold its
    # GIL between requests, and searches at several at once are GIL-bound (Qdrant Edge holds it while it searches).
    clients = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))

    def load(route: str, bodies: list[dict], concurrency: int) -> dict:
        return clients.submit(measure, base, route, bodies, concurrency).result()

    try:
        load("/v1/search", [{"query": q} for q in questions[:10]], 1)  # warm up (loads the models)
        load("/v1/answer", [{"question": q} for q in questions[:3]], 1)
        for concurrency in concurrencies:
            bodies = [questions[i % len(questions)] for i in range(requests)]
            if not answers_only:
                result["search"].append(load("/v1/search", [{"query": q, "top_k": 10} for q in bodies], concurrency))
            result["answer"].append(load("/v1/answer", [{"question": q} for q in bodies[: max(20, requests // 4)]], concurrency))
            print(json.dumps({"search": result["search"][-1] if result["search"] else None, "answer": result["answer"][-1]}), flush=True)
    finally:
        clients.shutdown()
        server.should_exit = True
        thread.join(10)
    # The process serves the API and holds the index: its memory is the API's at this index size.
    result["rss_mb"] = round(rss_mb(os.getpid()))
    return result


# Issue 23's targets, with the figures it was filed with (2026-12-01, the AMD EPYC machine): answers on 50,000
# chunks, searches on 1,000,000. Each run is held to the targets of its size.
ANSWER_TARGETS = [
    Target("answers/s at 4 concurrent", "6.1", 12, higher_is_better=True),
    Target("answer p99 ms at 4 concurrent", "910", 600, higher_is_better=False),
    Target("answer p99 ms at 1", "347", 400, higher_is_better=False),
]
SEARCH_TARGETS = [
    Target("search p99 ms at 1", "48-62", 40, higher_is_better=False),
    Target("search p99 ms at 4", "113-133", 80, higher_is_better=False),
]
ANSWER_TARGET_CHUNKS, SEARCH_TARGET_CHUNKS = 50_000, 1_000_000


def target_rows(runs: list[dict]) -> list[dict]:
    """Each run's figures against the targets set for an index of its size."""
    rows = []
    for run in runs:
        answers = {row["concurrency"]: row for row in run["answer"]}
        searches = {row["concurrency"]: row for row in run["search"]}
        at = f" ({run['chunks']:,} chunks)"
        if run["chunks"] >= ANSWER_TARGET_CHUNKS and run["chunks"] < SEARCH_TARGET_CHUNKS:
            figures = [answers.get(4, {}).get("rps"), answers.get(4, {}).get("p99_ms"), answers.get(1, {}).get("p99_ms")]
            rows += [{**t.row(f), "figure": t.figure + at} for t, f in zip(ANSWER_TARGETS, figures, strict=True)]
        if run["chunks"] >= SEARCH_TARGET_CHUNKS:
            figures = [searches.get(1, {}).get("p99_ms"), searches.get(4, {}).get("p99_ms")]
            rows += [{**t.row(f), "figure": t.figure + at} for t, f in zip(SEARCH_TARGETS, figures, strict=True)]
    return rows


def growth(runs: list[dict]) -> list[dict]:
    """Each size's p99 (and retrieval stage p50) at each concurrency as a ratio to the smallest index's."""
    first = runs[0]
    rows = []
    for run in runs:
        row = {"chunks": run["chunks"]}
        for route in ("search", "answer"):
            for mine, theirs in zip(run[route], first[route], strict=True):
                c = mine["concurrency"]
                row[f"{route}_p99_x_c{c}"] = round(mine["p99_ms"] / theirs["p99_ms"], 2) if theirs["p99_ms"] else None
                ours, base = mine["stages_ms"].get("retrieve", {}), theirs["stages_ms"].get("retrieve", {})
                if route == "search" and base.get("p50"):
                    row[f"retrieve_p50_x_c{c}"] = round(ours["p50"] / base["p50"], 2)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "beir" / "scifact")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".cairn" / "bench",
                        help="indexes live here: base/ (SciFact only), then one folder per size, reused by later runs")
    parser.add_argument("--chunks", default="50000", help="index sizes, comma-separated: each measured in turn, side by side")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", default="1,2,4")
    parser.add_argument("--variants", default="",
                        help="answer settings measured side by side in the same run, `;` between variants, e.g. "
                             "'default;scored_share=0.5' (the first is the main run; `default`: the defaults)")
    parser.add_argument("--scored-sentences", default="",
                        help="shorthand for --variants over scored_sentences, e.g. 10,20")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "answer_latency.json")
    args = parser.parse_args()
    variants = parse_variants(args.variants, args.scored_sentences)

    data = load(args.data, "test")
    questions = [data.queries[q] for q in sorted(data.queries)]
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    runs = []
    for size in (int(n) for n in args.chunks.split(",")):
        for number, variant in enumerate(variants):
            runtime, chunks, seconds = open_index(data, args.data_dir / "base", args.data_dir / str(size), size, variant)
            print(f"index ready: {chunks} chunks ({seconds:.0f} s), {variant or 'the default settings'}", flush=True)
            try:
                # A variant of the answer settings alone is measured on answers; any other (the defaults again, too)
                # on searches as well.
                answers_only = number > 0 and bool(variant) and set(variant) <= {"answer"}
                measured = measure_index(runtime, questions, args.requests, concurrencies, answers_only=answers_only)
                shortlist = {k: getattr(runtime.settings.answer, k) for k in ("scored_sentences", "scored_share")}
            finally:
                runtime.close()
            if number == 0:
                runs.append({"chunks": chunks, "index_seconds": round(seconds), **shortlist, "settings": variant,
                             **measured})
            else:  # the same index, read with other settings
                runs[-1].setdefault("variants", []).append({**shortlist, "settings": variant, **measured})
    result = {"benchmark": "answer_latency", "targets": target_rows(runs), "runs": runs,
              "growth_vs_smallest": growth(runs),
              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), "machine": machine()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result["growth_vs_smallest"], indent=2))
    for run in runs:  # the variants side by side, one line per route and concurrency
        for variant in [run] + run.get("variants", []):
            for route, unit in (("search", "searches"), ("answer", "answers")):
                for row in variant.get(route, []):
                    print(f"{run['chunks']} chunks, {variant['settings'] or 'defaults'}, {route} at "
                          f"{row['concurrency']}: {row['rps']} {unit}/s, p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms")
    if result["targets"]:
        print_targets(result["targets"])


if __name__ == "__main__":
    main()
