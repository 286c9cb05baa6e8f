"""End-to-end answer evaluation (`cairn eval ragas`): questions go through the real answering service, and its
answers and citations are scored against references, with ragas's non-LLM metrics beside Cairn's own.

A dataset is JSONL, one question per line:
    {"question": "...", "reference": "the expected answer", "reference_contexts": ["gold passage", ...],
     "reference_spans": [{"source": "...", "start": 0, "end": 10}], "answerable": true}
Only `question` is required. A chunking benchmark folder (corpora/ + questions.csv) is read as such a dataset,
its corpora as the knowledge base. Approved and corrected review-queue answers export to the same format.

Per question (averaged over the questions that have what a metric needs):
- answer_token_f1 / ragas_string_similarity / answer_semantic_similarity: the answer against `reference`
  (SQuAD-style token F1; ragas NonLLMStringSimilarity; cosine of the deployment's embeddings);
- ragas_context_recall / ragas_context_precision: the cited quotes against `reference_contexts` (ragas
  NonLLMContextRecall / NonLLMContextPrecisionWithReference; quotes and references are both sentence-sized);
- citation_in_reference: cited spans that overlap a `reference_spans` span of the same source;
- reference_coverage: the share of each answerable question's `reference_spans` that some citation overlaps (an
  abstention covers none: it counts 0);
- citation_support: citations whose quote the cross-encoder judges to support the sentence citing it (p >= 0.5);
- answered / abstained: fallbacks for lack of evidence, split by `answerable`.
`per_question` lists each question's outcome: abstained or not, confidence, coverage, and each citation with whether
it overlaps a gold span.
"""

from __future__ import annotations

import csv
import json
import re
import statistics
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eval.abstention import ABSTAINING, auroc
from eval.reliability import expected_calibration_error
from eval.services import EvalServices
from ingest.pipeline import IngestTarget
from retrieval.rerank import sigmoid

COLLECTION = "answers-eval"
_MARKED = re.compile(r"(.+?)\s*((?:\[\d+\])+)")
_WORD = re.compile(r"\w+")


@dataclass
class Row:
    question: str
    reference: str | None = None
    reference_contexts: list[str] = field(default_factory=list)
    reference_spans: list[dict] = field(default_factory=list)
    answerable: bool = True


def bundled_corpus(path: Path) -> Path | None:
    """The corpus a dataset brings: a chunking benchmark folder brings its corpora, a JSONL file none."""
    return path / "corpora" if path.is_dir() else None


def load(path: Path) -> tuple[list[Row], Path | None]:
    """Rows, and the corpus folder the dataset brings (a chunking benchmark folder brings its corpora)."""
    if path.is_dir():
        if not (path / "questions.csv").is_file():
            raise ValueError(f"{path} is neither a JSONL file nor a chunking benchmark folder (questions.csv)")
        rows = []
        with (path / "questions.csv").open(encoding="utf-8", newline="") as handle:
            for r in csv.DictReader(handle):
                refs = json.loads(r["references"])
                rows.append(
                    Row(r["question"], " ".join(x["content"] for x in refs), [x["content"] for x in refs],
                        [{"source": f"{r['corpus_id']}.md", "start": x["start_index"], "end": x["end_index"]} for x in refs])
                )
        return rows, bundled_corpus(path)
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            rows.append(
                Row(item["question"], item.get("reference"), list(item.get("reference_contexts") or []),
                    list(item.get("reference_spans") or []), bool(item.get("answerable", True)))
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a dataset row ({type(exc).__name__}: {exc})") from None
    return rows, None


def token_f1(answer: str, reference: str) -> float:
    a, r = _WORD.findall(answer.lower()), _WORD.findall(reference.lower())
    common = sum((Counter(a) & Counter(r)).values())
    if not common:
        return 0.0
    precision, recall = common / len(a), common / len(r)
    return 2 * precision * recall / (precision + recall)


def cited_sentences(answer: str) -> list[tuple[str, list[int]]]:
    """(sentence, citation numbers) for every sentence of an answer that carries [n] markers."""
    return [(m.group(1).strip(), [int(n) for n in re.findall(r"\d+", m.group(2))]) for m in _MARKED.finditer(answer)]


def _overlaps(citation, span: dict) -> bool:
    same_source = Path(citation.source).name == Path(span.get("source", "")).name
    return same_source and citation.start < span["end"] and span["start"] < citation.end


def _in_reference(citation, spans: list[dict]) -> bool:
    return any(_overlaps(citation, s) for s in spans)


def reference_coverage(citations, spans: list[dict]) -> float:
    """The share of the gold reference spans that at least one citation overlaps."""
    return statistics.fmean(any(_overlaps(c, s) for c in citations) for s in spans)


def _ragas():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from ragas import SingleTurnSample
        from ragas.metrics import NonLLMContextPrecisionWithReference, NonLLMContextRecall, NonLLMStringSimilarity
    return SingleTurnSample, NonLLMStringSimilarity(), NonLLMContextRecall(), NonLLMContextPrecisionWithReference()


class LLMJudge:
    """ragas's LLM-judged metrics (faithfulness, context precision, answer relevancy) through the deployment's
    OpenAI-compatible endpoint (`CAIRN_LLM__*`), in JSON mode. A judge that fails counts as an error, not a score."""

    def __init__(self, llm_settings, embedder):
        import asyncio

        from openai import AsyncOpenAI

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from ragas.embeddings.base import BaseRagasEmbedding
            from ragas.llms import llm_factory
            from ragas.metrics.collections import AnswerRelevancy, ContextPrecisionWithReference, Faithfulness

        class Embeddings(BaseRagasEmbedding):  # the deployment's own embedder, for answer relevancy
            def embed_text(self, text: str, **kwargs) -> list[float]:
                return embedder.embed_documents([text])[0].tolist()

            async def aembed_text(self, text: str, **kwargs) -> list[float]:
                return self.embed_text(text)

        client = AsyncOpenAI(base_url=llm_settings.base_url, api_key=llm_settings.api_key.get_secret_value(),
                             timeout=llm_settings.timeout_s,
                             max_retries=llm_settings.max_retries)
        llm = llm_factory(llm_settings.model, client=client)
        self.model = llm_settings.model
        self._run = asyncio.run
        self._faithfulness = Faithfulness(llm=llm)
        self._precision = ContextPrecisionWithReference(llm=llm)
        self._relevancy = AnswerRelevancy(llm=llm, embeddings=Embeddings())
        self.errors = 0

    def _score(self, call) -> float | None:
        try:
            return float(self._run(call).value)
        except Exception:  # the judge is down or answered out of schema: not a score
            self.errors += 1
            return None

    def context_precision(self, question: str, reference: str, contexts: list[str]) -> float | None:
        return self._score(self._precision.ascore(user_input=question, reference=reference, retrieved_contexts=contexts))

    def scores(self, question: str, answer: str, contexts: list[str], reference: str | None) -> dict[str, float]:
        out = {
            "ragas_llm_faithfulness": self._score(
                self._faithfulness.ascore(user_input=question, response=answer, retrieved_contexts=contexts)),
            "ragas_llm_answer_relevancy": self._score(self._relevancy.ascore(user_input=question, response=answer)),
        }
        if reference:
            out["ragas_llm_context_precision"] = self.context_precision(question, reference, contexts)
        return {k: v for k, v in out.items() if v is not None}


def index_corpus(services: EvalServices, folder: Path, collection: str = COLLECTION) -> int:

    service = services.ingest
    target = IngestTarget(services.settings.tenant, collection, services.settings.chunking.strategy)
    indexed = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        outcome = service.ingest(path, display=path.name, source=path.name, target=target)
        indexed += outcome.status.value in ("indexed", "replaced", "unchanged")
    return indexed


def run(services: EvalServices, dataset: Path, *, corpus: Path | None = None, collection: str | None = None, limit: int | None = None) -> dict:
    rows, bundled = load(dataset)
    rows = rows[:limit] if limit else rows
    if not rows:
        raise ValueError(f"{dataset} holds no questions")
    corpus = corpus or bundled
    settings = services.settings
    collection = collection or (COLLECTION if corpus else settings.collection)
    started = time.perf_counter()
    documents = index_corpus(services, corpus, collection) if corpus else None

    SingleTurnSample, string_similarity, context_recall, context_precision = _ragas()
    judge = LLMJudge(settings.llm, services.embedder) if settings.llm.base_url else None
    scores: dict[str, list[float]] = {}
    latencies, reasons = [], Counter()
    judged: list[tuple[float, bool]] = []  # (confidence, right) of answerable questions with gold spans

    def add(name: str, value: float) -> None:
        scores.setdefault(name, []).append(float(value))

    per_question = []  # what each question got, for reading where the figures are lost
    for row in rows:
        t = time.perf_counter()
        answer = services.answers.answer(row.question, tenant=settings.tenant, collection=collection)
        latencies.append((time.perf_counter() - t) * 1000)
        abstained = answer.fallback is not None and answer.fallback.reason in ABSTAINING
        reasons[answer.fallback.reason if answer.fallback else "none"] += 1
        add("answered" if row.answerable else "abstained", (not abstained) if row.answerable else abstained)
        covered = None
        if row.answerable and row.reference_spans:
            covered = 0.0 if abstained else reference_coverage(answer.citations, row.reference_spans)
            add("reference_coverage", covered)
            judged.append((answer.confidence, bool(answer.citations) and covered > 0))
        per_question.append({
            "question": row.question, "answerable": row.answerable, "abstained": abstained,
            "fallback": answer.fallback.reason if answer.fallback else None, "confidence": round(answer.confidence, 4),
            "reference_coverage": covered,
            "citations": [{"source": Path(c.source).name, "start": c.start, "end": c.end, "quote": c.quote,
                           "in_reference": _in_reference(c, row.reference_spans) if row.reference_spans else None}
                          for c in answer.citations],
            "reference_spans": row.reference_spans,
        })
        if not row.answerable or abstained:
            continue
        quotes = [c.quote for c in answer.citations]
        marked = cited_sentences(answer.answer)
        text = " ".join(s for s, _ in marked) or answer.answer
        if row.reference:
            add("answer_token_f1", token_f1(text, row.reference))
            sample = SingleTurnSample(response=text, reference=row.reference)
            add("ragas_string_similarity", string_similarity.single_turn_score(sample))
            vectors = services.embedder.embed_documents([text, row.reference])
            add("answer_semantic_similarity", float(np.dot(vectors[0], vectors[1])))
        if row.reference_contexts and quotes:
            sample = SingleTurnSample(
                user_input=row.question, response=text, reference=row.reference or "", retrieved_contexts=quotes,
                reference_contexts=row.reference_contexts,
            )
            add("ragas_context_recall", context_recall.single_turn_score(sample))
            add("ragas_context_precision", context_precision.single_turn_score(sample))
        if row.reference_spans and answer.citations:
            add("citation_in_reference", statistics.fmean(_in_reference(c, row.reference_spans) for c in answer.citations))
        if judge is not None and quotes:
            for name, value in judge.scores(row.question, text, quotes, row.reference).items():
                add(name, value)
        by_number = {c.index: c for c in answer.citations}
        pairs = [(s, by_number[n].quote) for s, numbers in marked for n in numbers if n in by_number]
        if pairs:
            support = [float(sigmoid(services.reranker.score(s, [q]))[0]) for s, q in pairs]
            add("citation_support", statistics.fmean(p >= 0.5 for p in support))

    latencies.sort()
    calibration = _calibration_figures(judged)
    return {
        "suite": "ragas",
        "dataset": dataset.name,
        "questions": len(rows),
        "answerable": sum(r.answerable for r in rows),
        **{name: round(statistics.fmean(values), 4) for name, values in sorted(scores.items())},
        "scored": {name: len(values) for name, values in sorted(scores.items())},
        "fallbacks": dict(reasons),
        # The confidence against "right" (a citation overlaps a gold span), answerable questions with gold spans.
        **calibration,
        "llm_judge": {"model": judge.model, "errors": judge.errors} if judge else None,
        "per_question": per_question,
        "answer_p50_ms": round(latencies[len(latencies) // 2], 1),
        "answer_p95_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))], 1),
        "seconds": round(time.perf_counter() - started, 1),
        "versions": {
            "embedder": services.embedder.model_id,
            "reranker": services.reranker.model_id,
            "generator": settings.answer.generator,
            "strategy": settings.chunking.strategy,
            "min_confidence": settings.answer.min_confidence,
            "calibration": services.calibration.version if services.calibration else "uncalibrated",
            "collection": collection,
            "documents": documents,
            "corpus": services.catalog.record_corpus_version(settings.tenant, collection),
        },
    }


def _calibration_figures(judged: list[tuple[float, bool]]) -> dict:
    if not judged:
        return {}
    confidences, rights = [c for c, _ in judged], [r for _, r in judged]
    return {
        "ece": expected_calibration_error(confidences, rights),
        "confidence_auroc_right": round(auroc([c for c, r in judged if r], [c for c, r in judged if not r]), 4),
        "right": round(sum(rights) / len(rights), 4),
    }
