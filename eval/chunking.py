"""Chunking evaluation: which strategy (and size) retrieves the gold passages best, per character and per token.

Data: a folder with `corpora/*.md` and `questions.csv` (question, references = JSON list of {content, start_index,
end_index}, corpus_id), as in Chroma's "Evaluating Chunking Strategies for Retrieval". Every variant gets its own
collection, built by the real ingestion service (parse -> chunk -> embed -> index), and is searched with the real
search service (hybrid, the deployment's defaults).

Token-level metrics per question, over the spans the search returns (a hierarchical hit returns its parent span):
- recall: fraction of the gold characters covered by the returned spans;
- precision: fraction of the returned characters that are gold, counting each returned span in full (overlapping
  chunks are sent twice to a generator, so they count twice);
- IoU: gold characters covered / (returned characters + gold characters not covered).
Each is computed at a fixed number of returned chunks (`k`) and at a fixed token budget (`budget` tokens: spans are
taken in rank order and the last one is cut at the budget), so big chunks cannot win by size alone.

ragas metrics (no LLM): ID-based context precision/recall and NonLLM context precision/recall, where the reference
contexts are this variant's own chunks that hold gold characters (ragas compares strings of similar length).
"""

from __future__ import annotations

import csv
import json
import statistics
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from core.hashing import sha256_file
from core.settings import ChunkingSettings
from eval.answers import LLMJudge
from eval.services import EvalServices
from ingest.chunking import check_strategy
from ingest.pipeline import IngestService, IngestTarget, store_name
from retrieval.search import Query

K = 5
BUDGET_TOKENS = 1000
# How the harness recommends a default: the highest recall at the token budget (the gold that reaches a generator
# given a fixed context); variants within TIE of the best are tied, and a tie goes to the strategy that keeps
# sentences whole (answers quote sentences; a window cut mid-sentence makes a fragment quote), most general first.
TIE = 0.01
SENTENCE_PRESERVING = ("sentence", "structure", "markdown", "semantic", "hierarchical")
SEARCH_DEPTH = 20  # spans fetched per question; enough to fill the token budget with the smallest chunks


@dataclass(frozen=True)
class Variant:
    strategy: str
    chunk_size: int
    chunk_overlap: int

    @property
    def name(self) -> str:
        return f"{self.strategy}-{self.chunk_size}-{self.chunk_overlap}"

    @classmethod
    def parse(cls, text: str) -> "Variant":
        """`sentence-256-32`, or just `sentence` for the default size and overlap."""
        parts = text.strip().split("-")
        if len(parts) == 1:
            defaults = ChunkingSettings()
            return cls(parts[0], defaults.chunk_size, defaults.chunk_overlap)
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            raise ValueError(f"invalid variant {text!r}: use STRATEGY or STRATEGY-SIZE-OVERLAP, e.g. sentence-256-32")
        return cls(parts[0], int(parts[1]), int(parts[2]))


def parse_variants(names) -> tuple[Variant, ...]:
    """Variant names, each checked against the strategy registry; no names: every variant of VARIANTS."""

    chosen = tuple(Variant.parse(name) for name in names if name.strip()) or VARIANTS
    for variant in chosen:
        check_strategy(variant.strategy)
    return chosen


# Every strategy of the registry at the default size, and size variants of the two simplest ones.
VARIANTS = tuple(
    Variant.parse(v)
    for v in (
        "token-128-16", "token-256-32", "token-512-64",
        "sentence-128-16", "sentence-256-32", "sentence-512-64",
        "structure-256-32", "markdown-256-32", "semantic-256-32", "hierarchical-128-16",
    )
)


@dataclass(frozen=True)
class Question:
    text: str
    corpus_id: str
    gold: tuple[tuple[int, int], ...]
    references: tuple[str, ...]


def load(folder: Path, corpora: tuple[str, ...] = ()) -> tuple[dict[str, Path], list[Question]]:
    files = {p.stem: p for p in sorted((folder / "corpora").glob("*.md"))}
    if corpora:
        if unknown := set(corpora) - set(files):
            raise ValueError(f"unknown corpora {sorted(unknown)}; this folder has {sorted(files)}")
        files = {name: files[name] for name in corpora}
    questions = []
    with (folder / "questions.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["corpus_id"] not in files:
                continue
            refs = json.loads(row["references"])
            questions.append(
                Question(
                    row["question"], row["corpus_id"], tuple((r["start_index"], r["end_index"]) for r in refs),
                    tuple(r["content"] for r in refs),
                )
            )
    return files, questions


# ---- span arithmetic ----------------------------------------------------------------------------------------------

def merge(spans) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def overlap(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> int:
    """Characters in both merged span lists."""
    total, i, j = 0, 0, 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        total += max(0, hi - lo)
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


def span_scores(returned: list[tuple[str, int, int]], gold_doc: str, gold: list[tuple[int, int]]) -> dict[str, float]:
    """`returned`: (document id, start, end) in rank order; gold spans lie in `gold_doc`."""
    gold = merge(gold)
    gold_chars = sum(e - s for s, e in gold)
    sent = sum(e - s for _, s, e in returned)
    covered = overlap(merge((s, e) for d, s, e in returned if d == gold_doc), gold)
    return {
        "recall": covered / gold_chars if gold_chars else 0.0,
        "precision": covered / sent if sent else 0.0,
        "iou": covered / (sent + gold_chars - covered) if sent + gold_chars else 0.0,
    }


def within_budget(hits, budget: int, count_tokens, cut) -> list[tuple[str, int, int]]:
    """Spans in rank order until `budget` tokens; the last one is cut to fit (`cut(text, tokens)` -> characters)."""
    spans, left = [], budget
    for hit in hits:
        if left <= 0:
            break
        tokens = count_tokens(hit.text)
        if tokens <= left:
            spans.append((hit.document_id, hit.start, hit.end))
            left -= tokens
        else:
            spans.append((hit.document_id, hit.start, hit.start + cut(hit.text, left)))
            left = 0
    return spans


# ---- the run ------------------------------------------------------------------------------------------------------

class _Tokens:
    """Counts tokens with the tokenizer the chunkers size their chunks with (llama-index's default, cl100k)."""

    def __init__(self):
        import tiktoken
        from llama_index.core.utils import get_tokenizer

        self.encoding = tiktoken.get_encoding("cl100k_base")
        self.count_tokenizer = get_tokenizer()

    def count(self, text: str) -> int:
        return len(self.count_tokenizer(text))

    def cut(self, text: str, tokens: int) -> int:
        return len(self.encoding.decode(self.encoding.encode(text)[:tokens]))


def _ragas_metrics():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from ragas import SingleTurnSample
        from ragas.metrics import (
            IDBasedContextPrecision,
            IDBasedContextRecall,
            NonLLMContextPrecisionWithReference,
            NonLLMContextRecall,
        )
    metrics = {
        "ragas_id_context_precision": IDBasedContextPrecision(),
        "ragas_id_context_recall": IDBasedContextRecall(),
        "ragas_nonllm_context_precision": NonLLMContextPrecisionWithReference(),
        "ragas_nonllm_context_recall": NonLLMContextRecall(),
    }
    return SingleTurnSample, metrics


def _span_id(document_id: str, start: int, end: int) -> str:
    return f"{document_id}:{start}:{end}"


def _returned_units(chunks) -> list[tuple[int, int, str]]:
    """Every distinct span a search can return from these chunks of a document (parents for hierarchical ones)."""
    units = {}
    for chunk in chunks:
        p = chunk.payload
        if p.parent_text is not None:
            units[(p.parent_start, p.parent_end)] = p.parent_text
        else:
            units[(p.start, p.end)] = p.text
    return [(s, e, text) for (s, e), text in sorted(units.items())]


def evaluate_variant(services: EvalServices, variant: Variant, files: dict[str, Path], questions: list[Question], *, k: int, budget: int,
                     tokens: _Tokens, judge=None) -> dict:
    settings = services.settings.model_copy(
        update={"chunking": ChunkingSettings(strategy=variant.strategy, chunk_size=variant.chunk_size,
                                             chunk_overlap=variant.chunk_overlap)}
    )
    service = IngestService(settings, services.catalog, services.store, services.embedder, services.parser)
    collection = "chunking-" + variant.name
    target = IngestTarget(settings.tenant, collection, variant.strategy)
    name = store_name(settings.qdrant.prefix, collection, variant.strategy)

    started = time.perf_counter()
    documents: dict[str, str] = {}
    for corpus_id, path in files.items():
        outcome = service.ingest(path, display=path.name, source=f"chunking:{corpus_id}", target=target)
        if outcome.document_id is None or outcome.status.value in ("rejected", "failed"):
            raise RuntimeError(f"{path.name} could not be ingested with {variant.name}: {outcome.reason}")
        documents[corpus_id] = outcome.document_id
    ingest_s = time.perf_counter() - started

    stored = {cid: services.store.chunks(name, doc_id) for cid, doc_id in documents.items()}
    units = {cid: _returned_units(chunks) for cid, chunks in stored.items()}
    chunk_tokens = [tokens.count(chunk.payload.text) for chunks in stored.values() for chunk in chunks]
    SingleTurnSample, ragas = _ragas_metrics()

    per_question: dict[str, list[float]] = {}
    search_ms = []
    for q in questions:
        t = time.perf_counter()
        hits = services.search.retrieve(
            Query(q.text, settings.tenant, collection, strategy=variant.strategy, top_k=SEARCH_DEPTH)
        ).hits
        search_ms.append((time.perf_counter() - t) * 1000)
        doc_id, gold = documents[q.corpus_id], merge(q.gold)
        top = hits[:k]
        at_k = [(h.document_id, h.start, h.end) for h in top]
        scores = {f"{m}@k": v for m, v in span_scores(at_k, doc_id, gold).items()}
        at_budget = within_budget(hits, budget, tokens.count, tokens.cut)
        scores |= {f"{m}@budget": v for m, v in span_scores(at_budget, doc_id, gold).items()}
        scores["chunks@budget"] = float(len(at_budget))

        gold_units = [(s, e, text) for s, e, text in units[q.corpus_id] if overlap([(s, e)], gold) > 0]
        contexts = [h.text for h in top]
        sample = SingleTurnSample(
            user_input=q.text,
            retrieved_contexts=contexts,
            reference_contexts=[text for _, _, text in gold_units],
            retrieved_context_ids=[_span_id(h.document_id, h.start, h.end) for h in top],
            reference_context_ids=[_span_id(doc_id, s, e) for s, e, _ in gold_units],
        )
        for metric_name, metric in ragas.items():
            scores[metric_name] = float(metric.single_turn_score(sample))
        if judge is not None:
            judged = judge.context_precision(q.text, " ".join(q.references), contexts)
            if judged is not None:
                scores["ragas_llm_context_precision"] = judged
        for metric_name, value in scores.items():
            per_question.setdefault(metric_name, []).append(value)

    search_ms.sort()
    return {
        "strategy": variant.strategy,
        "chunk_size": variant.chunk_size,
        "chunk_overlap": variant.chunk_overlap,
        **{m: round(statistics.fmean(v), 4) for m, v in per_question.items()},
        "chunks": len(chunk_tokens),
        "chunk_tokens_mean": round(statistics.fmean(chunk_tokens), 1) if chunk_tokens else 0.0,
        "chunk_tokens_stdev": round(statistics.pstdev(chunk_tokens), 1) if chunk_tokens else 0.0,
        "ingest_seconds": round(ingest_s, 2),
        "search_p50_ms": round(search_ms[len(search_ms) // 2], 1) if search_ms else 0.0,
    }


def recommend(results: dict[str, dict]) -> str:
    best = max(v["recall@budget"] for v in results.values())
    tied = [name for name, v in results.items() if v["recall@budget"] >= best - TIE]

    def preference(name: str):
        v = results[name]
        order = SENTENCE_PRESERVING.index(v["strategy"]) if v["strategy"] in SENTENCE_PRESERVING else len(SENTENCE_PRESERVING)
        return (order, -v["recall@budget"], -v["iou@budget"])

    return min(tied, key=preference)


def run(services: EvalServices, folder: Path, *, variants=VARIANTS, corpora: tuple[str, ...] = (), limit: int | None = None,
        k: int = K, budget: int = BUDGET_TOKENS, llm_judge: bool = False) -> dict:
    """`llm_judge`: also ragas's LLM-judged context precision through the configured endpoint (k calls per question
    and variant, so it is asked for explicitly)."""
    files, questions = load(folder, corpora)
    if limit:
        questions = questions[:limit]
    if not questions:
        raise ValueError(f"no questions for the corpora {sorted(files)} in {folder / 'questions.csv'}")
    judge = None
    if llm_judge:
        if not services.settings.llm.base_url:
            raise ValueError("the LLM judge needs an endpoint: set CAIRN_LLM__BASE_URL (and CAIRN_LLM__MODEL)")

        judge = LLMJudge(services.settings.llm, services.embedder)
    tokens = _Tokens()
    started = time.perf_counter()
    results = {
        v.name: evaluate_variant(services, v, files, questions, k=k, budget=budget, tokens=tokens, judge=judge)
        for v in variants
    }
    def best(metric: str) -> str:
        return max(results, key=lambda name: results[name][metric])

    return {
        "suite": "chunking",
        "dataset": folder.name,
        "corpora": sorted(files),
        "questions": len(questions),
        "k": k,
        "budget_tokens": budget,
        "variants": results,
        "best_by_iou_at_budget": best("iou@budget"),
        "best_by_recall_at_budget": best("recall@budget"),
        "recommended_default": recommend(results),
        "recommendation_rule": f"highest recall@budget; within {TIE} counts as a tie, won by the strategy that keeps "
        "sentences whole (in the order " + ", ".join(SENTENCE_PRESERVING) + ")",
        "llm_judge": {"model": judge.model, "errors": judge.errors} if judge else None,
        "seconds": round(time.perf_counter() - started, 1),
        "versions": {
            "embedder": services.embedder.model_id,
            "fusion": services.settings.retrieval.fusion,
            "rerank": services.settings.retrieval.rerank,
            "default_strategy": services.settings.chunking.strategy,
            "corpus": {cid: _file_hash(path) for cid, path in files.items()},
        },
    }


def _file_hash(path: Path) -> str:

    return sha256_file(path)[:16]
