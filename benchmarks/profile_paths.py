"""Where the time of the hot paths goes: cProfile over the search and answer services (every question on the State
of the Union, `corpora/` ingested) and over ingesting SciFact abstracts, with the time grouped by what it is spent
on: model inference, tokenizing, sentence splitting, the vector store, SQL, BM25, parsing, and the rest.

Prints the groups and the functions with the most own time; writes benchmarks/results/profile_paths.json.
`make profile`. The models are loaded before profiling starts (a load inside a path would show up as its own group).
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import json
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.offline import configure_offline  # noqa: E402

configure_offline()

from api.root import Root  # noqa: E402
from core.settings import Settings  # noqa: E402
from eval.beir import write_documents  # noqa: E402
from ingest.pipeline import IngestTarget  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"

# (group, substrings of the code's file path or function name); the first match wins.
GROUPS = [
    ("model inference (onnxruntime)", ("onnxruntime",)),
    ("tokenizing", ("tokenizers",)),
    ("sentence splitting (spaCy)", ("spacy", "thinc")),
    ("vector store (Qdrant Edge)", ("qdrant_edge", "vectorstore")),
    ("SQL (SQLAlchemy + driver)", ("sqlalchemy", "sqlite3", "psycopg", "core/db.py", "alembic")),
    ("BM25 (sparse vectors)", ("core/sparse.py", "Stemmer", "stemmer")),
    ("parsing (unstructured, parser child)", ("unstructured", "multiprocessing", "ingest/parsing")),
    ("chunking (llama-index)", ("llama_index", "ingest/chunking")),
    ("numpy", ("numpy",)),
    ("tracing, metrics, logging", ("opentelemetry", "prometheus_client", "structlog", "logging")),
    ("waiting on a lock (ingest: the parser child's reply)", ("lock' objects",)),
]


def group_of(filename: str, function: str) -> str:
    where = f"{filename}:{function}"
    for name, needles in GROUPS:
        if any(n in where for n in needles):
            return name
    return "other (Cairn, Python)"


def summarize(profile: cProfile.Profile, wall_s: float, calls: int, top: int) -> dict:
    stats = pstats.Stats(profile)
    groups: dict[str, float] = {}
    functions = []
    for (filename, line, function), (_, ncalls, own, _cumulative, _) in stats.stats.items():
        groups[group_of(filename, function)] = groups.get(group_of(filename, function), 0.0) + own
        functions.append((own, ncalls, f"{Path(filename).name}:{line}({function})"))
    total = sum(groups.values()) or 1.0
    functions.sort(reverse=True)
    return {
        "calls": calls,
        "wall_ms_per_call": round(wall_s * 1000 / calls, 1),
        "share_by_group": {k: round(v / total, 3) for k, v in sorted(groups.items(), key=lambda kv: -kv[1])},
        "top_functions": [{"own_ms_per_call": round(own * 1000 / calls, 2), "calls": n, "function": f} for own, n, f in functions[:top]],
    }


def profiled(call, items) -> tuple[cProfile.Profile, float]:
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    for item in items:
        call(item)
    profile.disable()
    return profile, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--abstracts", type=int, default=150)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "profile_paths.json")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cairn-profile-"))
    settings = Settings(data_dir=work / "data", cache={"enabled": False}, _env_file=None)
    runtime = Root(settings)
    ingest = runtime.open_ingestion()
    target = IngestTarget(settings.tenant, settings.collection, settings.chunking.strategy)
    speech = ROOT / "corpora" / "state_of_the_union.md"
    ingest.ingest(speech, display=speech.name, source=str(speech), target=target)  # loads parser, embedder
    with (SHARED / "chunking" / "questions.csv").open(newline="") as handle:
        questions = [r["question"] for r in csv.DictReader(handle) if r["corpus_id"] == "state_of_the_union"]
    runtime.answers.answer(questions[0], tenant=settings.tenant, collection=settings.collection)  # loads the cross-encoder

    results = {}
    search = lambda q: runtime.search.search(q, tenant=settings.tenant, collection=settings.collection)  # noqa: E731
    results["search"] = summarize(*profiled(search, questions), len(questions), args.top)
    answer = lambda q: runtime.answers.answer(q, tenant=settings.tenant, collection=settings.collection)  # noqa: E731
    results["answer"] = summarize(*profiled(answer, questions), len(questions), args.top)

    inbox = work / "abstracts"
    write_documents(SHARED / "beir" / "scifact" / "corpus.jsonl", inbox, args.abstracts)
    files = sorted(inbox.iterdir())
    index = lambda path: ingest.ingest(path, display=path.name, source=str(path), target=target)  # noqa: E731
    results["ingest_document"] = summarize(*profiled(index, files), len(files), args.top)
    runtime.close()

    for path, found in results.items():
        print(f"\n{path}: {found['wall_ms_per_call']} ms per call over {found['calls']} calls (own time by group)")
        for name, share in found["share_by_group"].items():
            print(f"  {share:6.1%}  {name}")
        for row in found["top_functions"][:6]:
            print(f"    {row['own_ms_per_call']:7.2f} ms  {row['function']}")
    result = {"benchmark": "profile_paths", "note": "in-process services, one thread; cProfile adds overhead to Python calls", **results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
