"""Does Cairn say "I don't know" when it should? Abstention on answerable and unanswerable questions.

Answerable: SciFact test claims that SciFact's annotators found evidence for (SUPPORT or CONTRADICT rationales in
`extra/claims_dev.jsonl`: BEIR's SciFact test queries are SciFact's dev claims), with their evidence documents in
the index. Unanswerable: the same claims with their evidence documents removed from what the search may see, and
off-topic questions. Claims labelled NOT ENOUGH INFO (their cited abstract neither supports nor contradicts them,
though BEIR's qrels list it as relevant) are neither: the corpus does not settle them, so their abstention is
reported on its own and counted in no target. An answer abstains when it falls back for lack of evidence
(no_relevant_context, low_confidence)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from core.vectorstore import DocumentFilter
from eval.beir import COLLECTION, index_corpus, load
from eval.reliability import expected_calibration_error
from eval.services import EvalServices
from retrieval.search import Query

ABSTAINING = ("no_relevant_context", "low_confidence")
OFF_TOPIC = Path(__file__).with_name("off_topic_questions.txt")


def auroc(positives: list[float], negatives: list[float]) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    if not positives or not negatives:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def _rates(answerable: list[float], unanswerable: list[float], threshold: float) -> dict:
    abstain_unanswerable = sum(c < threshold for c in unanswerable) / len(unanswerable)
    abstain_answerable = sum(c < threshold for c in answerable) / len(answerable)
    abstained = sum(c < threshold for c in unanswerable) + sum(c < threshold for c in answerable)
    precision = sum(c < threshold for c in unanswerable) / abstained if abstained else 1.0
    return {
        "threshold": threshold,
        "abstention_recall": round(abstain_unanswerable, 4),  # unanswerable questions that abstained
        "false_abstention": round(abstain_answerable, 4),  # answerable questions that abstained
        "abstention_precision": round(precision, 4),
    }


def lowest_false_abstention(answerable: int, removed: int, off_topic: int, identical: int, recall: float = 0.9) -> float:
    """The lowest false abstention at which `recall` of the unanswerable questions can abstain, for any judge that
    decides from the passages read alone (Cairn's confidence also reads how the search ranked its best passage, which
    hiding unread documents can change). A claim whose evidence is not among the passages read sees the same passages
    answerable as evidence-removed (the evidence was not there to remove), so both get the same decision: each such
    claim abstaining counts once in each rate. Even a perfect judge elsewhere (every other unanswerable question
    abstains, no other answerable one does) must let this many of those pairs abstain."""
    needed = math.ceil(recall * (removed + off_topic) - 1e-9)
    shortfall = max(0, needed - off_topic - (removed - identical))
    return round(shortfall / answerable, 4)


def evidence_labels(folder: Path, data) -> tuple[dict[str, set[str]], list[str], str]:
    """Each answerable claim's evidence documents, the not-enough-info claims, and where the labels came from.
    Without SciFact's labels every claim with a qrel counts as answerable, its qrels as its evidence."""
    labels = folder / "extra" / "claims_dev.jsonl"
    if not labels.is_file():
        return {q: set(docs) for q, docs in data.qrels.items() if q in data.queries}, [], "qrels"
    evidence, not_enough = {}, []
    with labels.open() as handle:
        for line in handle:
            claim = json.loads(line)
            key = str(claim["id"])
            if key not in data.queries:
                continue
            docs = {d for d in claim.get("evidence") or {} if d in data.corpus}
            if docs:
                evidence[key] = docs
            else:
                not_enough.append(key)
    return evidence, sorted(not_enough), str(labels.relative_to(folder))


def _share(flags: list[bool]) -> float | None:
    return round(sum(flags) / len(flags), 4) if flags else None


def run(services: EvalServices, folder: Path, *, limit: int | None = None) -> dict:
    settings = services.settings
    data = load(folder, "test")
    ids = index_corpus(services, data, settings.tenant, settings.chunking.strategy)
    cairn_id = {beir: cairn for cairn, beir in ids.items()}
    labelled, not_enough, labels_from = evidence_labels(folder, data)
    claims = sorted(labelled)[:limit]
    not_enough = not_enough[:limit]
    off_topic = [q.strip() for q in OFF_TOPIC.read_text().splitlines() if q.strip() and not q.startswith("#")]
    started = time.perf_counter()

    read = settings.answer.passages

    cited: dict[tuple[str, tuple[str, ...]], set[str]] = {}  # the documents each answer cites

    def ask(question: str, exclude: tuple[str, ...] = ()):
        """(confidence, abstained, the passages the answer read, as its audit record lists them)."""
        answer = services.answers.answer(question, tenant=settings.tenant, collection=COLLECTION, where=DocumentFilter(exclude_document_ids=tuple(exclude)))
        reason = answer.fallback.reason if answer.fallback else None
        record = services.answers.log.record(settings.tenant, answer.id)
        passages = tuple((r["document_id"], r["chunk_id"]) for r in record["retrieved"])
        cited[(question, exclude)] = {c.document_id for c in answer.citations}
        return answer.confidence, reason in ABSTAINING, passages

    def evidence_rank(claim: str, evidence: set[str], depth: int = 20) -> int | None:
        """Where the claim's first evidence chunk ranks in the search (1-based), None when not in the first `depth`."""
        hits = services.search.retrieve(Query(claim, settings.tenant, COLLECTION, top_k=depth)).hits
        return next((i for i, h in enumerate(hits, 1) if h.document_id in evidence), None)

    evidence = {q: tuple(cairn_id[d] for d in labelled[q] if d in cairn_id) for q in claims}
    answerable = [ask(data.queries[q]) for q in claims]
    ranks = [evidence_rank(data.queries[q], set(evidence[q])) for q in claims]
    evidence_read = [any(doc in evidence[q] for doc, _ in a[2]) for q, a in zip(claims, answerable, strict=True)]
    removed = [ask(data.queries[q], evidence[q]) for q in claims]
    # Pairs that read the very same passages with and without the evidence: no judge of the passages can tell them apart.
    same_passages = [a[2] == u[2] for a, u in zip(answerable, removed, strict=True)]
    unrelated = [ask(q) for q in off_topic]
    unsettled = [ask(data.queries[q]) for q in not_enough]
    unanswerable = removed + unrelated
    conf_a = [c for c, *_ in answerable]
    conf_u = [c for c, *_ in unanswerable]
    threshold = services.answers.threshold
    # Right: an answerable claim answered with a citation of one of its evidence abstracts; every other answer is not.
    rights = [not a[1] and bool(cited[(data.queries[q], ())] & set(evidence[q])) for q, a in zip(claims, answerable, strict=True)]
    ece = expected_calibration_error(conf_a + conf_u, rights + [False] * len(conf_u))
    return {
        "suite": "abstention",
        "dataset": folder.name,
        "evidence_labels": labels_from,
        "answerable": len(answerable),
        "unanswerable_evidence_removed": len(removed),
        "unanswerable_off_topic": len(unrelated),
        "not_enough_info": len(unsettled),
        "min_confidence": threshold,
        "calibration": services.calibration.version if services.calibration else "uncalibrated",
        "ece": ece,
        "right": round(sum(rights) / len(rights), 4),
        # as served (the service's own fallback decisions)
        "abstention_recall": round(sum(a for _, a, _ in unanswerable) / len(unanswerable), 4),
        "abstention_recall_evidence_removed": round(sum(a for _, a, _ in removed) / len(removed), 4),
        "abstention_recall_off_topic": round(sum(a for _, a, _ in unrelated) / len(unrelated), 4),
        "false_abstention": round(sum(a for _, a, _ in answerable) / len(answerable), 4),
        "abstention_not_enough_info": _share([a for _, a, _ in unsettled]),  # in no target: the corpus does not settle them
        "abstention_precision": _rates(conf_a, conf_u, threshold)["abstention_precision"],
        "confidence_auroc": round(auroc(conf_a, conf_u), 4),
        "confidence_auroc_evidence_removed": round(auroc(conf_a, [c for c, *_ in removed]), 4),
        "confidence_auroc_off_topic": round(auroc(conf_a, [c for c, *_ in unrelated]), 4),
        # The passages the generator reads hold an evidence document for this share of the answerable claims
        # (evidence_within: where the evidence ranks in a deeper search). Claims that read the same passages with and
        # without their evidence get the same decision from any judge, which bounds what a judge can reach
        # (lowest_false_abstention_at_target).
        "passages_read": read,
        "evidence_read": round(sum(evidence_read) / len(claims), 4),
        "evidence_within": {str(k): round(sum(r is not None and r <= k for r in ranks) / len(claims), 4) for k in (1, 4, 10, 20)},
        "false_abstention_evidence_read": _share([a for (_, a, _), e in zip(answerable, evidence_read, strict=True) if e]),
        "false_abstention_evidence_not_read": _share([a for (_, a, _), e in zip(answerable, evidence_read, strict=True) if not e]),
        "lowest_false_abstention_at_target": lowest_false_abstention(
            len(answerable), len(removed), len(unrelated), sum(same_passages)),
        "same_passages_both_ways": sum(same_passages),
        "claims": [
            {"id": q, "evidence_rank": r, "evidence_read": e, "same_passages": same,
             "answerable": {"confidence": a[0], "abstained": a[1]}, "evidence_removed": {"confidence": u[0], "abstained": u[1]}}
            for q, r, e, same, a, u in zip(claims, ranks, evidence_read, same_passages, answerable, removed, strict=True)
        ],
        "thresholds": [_rates(conf_a, conf_u, t / 20) for t in range(1, 20)],
        "target": {"abstention_recall": ">= 0.90", "false_abstention": "<= 0.10"},
        "seconds": round(time.perf_counter() - started, 1),
        "versions": {
            "embedder": services.embedder.model_id,
            "reranker": services.reranker.model_id,
            "strategy": settings.chunking.strategy,
            "generator": settings.answer.generator,
            "corpus": services.catalog.record_corpus_version(settings.tenant, COLLECTION),
        },
    }
