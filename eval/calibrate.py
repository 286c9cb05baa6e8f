"""Fitting the answer confidence (`cairn calibrate`): labelled answers in, a versioned calibration out.

Labels come from eval datasets and from the review queue:
- a chunking benchmark folder (corpora/ + questions.csv): each corpus gets a collection of its own; a question asked
  of its own corpus is answerable, and right when a citation overlaps its gold span; asked of another corpus it is
  unanswerable (same kind of text, not the answer: the hard negatives an assistant meets). Questions of the corpora
  named by `fit_corpora` are fitted on; the others are held back for the before/after figures;
- review decisions (`from_review`): approved = answerable and right, edited or rejected = wrong, an approved
  fallback = unanswerable; their signals are read from the answer's audit record.
The model is a logistic regression over the evidence's signals (retrieval.calibration.SIGNALS); the threshold is the
highest that keeps false abstention (answerable questions that abstain) at or under the target on the fit set."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from core.vectorstore import DocumentFilter
from eval import answers as answers_eval
from eval import beir
from eval.abstention import auroc
from eval.answers import load, reference_coverage
from eval.reliability import expected_calibration_error
from eval.services import EvalServices
from retrieval.calibration import SEARCH_SCORE_SCALE, SIGNALS, Calibration, CalibrationStore
from retrieval.rerank import sigmoid
from retrieval.review import ReviewQueue


@dataclass
class Example:
    """One labelled answer: its signals, whether the question was answerable, and whether the answer was right."""

    signals: dict[str, float]
    answerable: bool
    right: bool
    origin: str  # which dataset and corpus, or "review"
    held_back: bool = False


def _collection(corpus_id: str) -> str:
    return "calib-" + "".join(ch if ch.isalnum() else "-" for ch in corpus_id)[:50]


def examples_from_chunking(services: EvalServices, folder: Path, fit_corpora: set[str], limit: int | None = None) -> list[Example]:
    """Every question asked of its own corpus (answerable) and of each other corpus (unanswerable)."""
    rows, corpora = load(folder)
    if corpora is None:
        raise ValueError(f"{folder} is not a chunking benchmark folder (corpora/ + questions.csv)")
    by_corpus: dict[str, list] = {}
    for row in rows:
        by_corpus.setdefault(Path(row.reference_spans[0]["source"]).stem, []).append(row)
    names = sorted(by_corpus)
    for name in names:  # one collection per corpus, built by the real ingestion service
        staging = services.settings.resolved_data_dir / "calibration-corpora" / name
        staging.mkdir(parents=True, exist_ok=True)
        (staging / f"{name}.md").write_bytes((corpora / f"{name}.md").read_bytes())
        answers_eval.index_corpus(services, staging, _collection(name))
    examples = []
    tenant = services.settings.tenant
    for name in names:
        for row in by_corpus[name][:limit]:
            for asked in names:
                answer = services.answers.answer(row.question, tenant=tenant, collection=_collection(asked))
                own = asked == name
                right = own and bool(answer.citations) and reference_coverage(answer.citations, row.reference_spans) > 0
                examples.append(Example(answer.signals, own, right, f"{folder.name}:{name}", held_back=name not in fit_corpora))
    return examples


def examples_from_scifact(services: EvalServices, folder: Path, limit: int | None = None) -> list[Example]:
    """SciFact *train* claims with evidence (extra/claims_train.jsonl; the test claims are what `cairn eval
    abstention` reports on): each asked as is (answerable; right when a citation is from an evidence abstract) and
    with its evidence abstracts removed from what the search may see (unanswerable: same topic, no answer)."""
    labels = folder / "extra" / "claims_train.jsonl"
    if not labels.is_file():
        raise ValueError(f"{folder} has no extra/claims_train.jsonl (SciFact's training claims)")
    data = beir.load(folder, "test")
    settings = services.settings
    cairn_id = {beir_id: cairn for cairn, beir_id in beir.index_corpus(services, data, settings.tenant, settings.chunking.strategy).items()}
    claims = []
    for line in labels.read_text(encoding="utf-8").splitlines():
        claim = json.loads(line)
        evidence = tuple(cairn_id[d] for d in claim.get("evidence") or {} if d in cairn_id)
        if evidence:
            claims.append((claim["claim"], evidence))
    examples = []
    for text, evidence in claims[:limit]:
        answer = services.answers.answer(text, tenant=settings.tenant, collection=beir.COLLECTION)
        right = any(c.document_id in evidence for c in answer.citations)
        examples.append(Example(answer.signals, True, right, f"{folder.name}:train"))
        removed = services.answers.answer(text, tenant=settings.tenant, collection=beir.COLLECTION, where=DocumentFilter(exclude_document_ids=tuple(evidence)))
        examples.append(Example(removed.signals, False, False, f"{folder.name}:train-evidence-removed"))
    return examples


def examples_from_dataset(services: EvalServices, folder: Path, fit_corpora: set[str], limit: int | None = None) -> list[Example]:
    """A BEIR SciFact folder (corpus.jsonl) or a chunking benchmark folder (questions.csv)."""
    if (folder / "corpus.jsonl").is_file():
        return examples_from_scifact(services, folder, limit)
    return examples_from_chunking(services, folder, fit_corpora, limit)


def examples_from_review(review: ReviewQueue, tenant: str) -> list[Example]:
    """Resolved review items as labels, with the signals their answers recorded."""
    examples = []
    for status in ("approved", "edited", "rejected"):
        offset = 0
        while batch := review.items(tenant, status, 500, offset):
            offset += len(batch)
            for row, body in batch:
                signals = (body or {}).get("signals") or {}
                if not signals:
                    continue  # answered before signals were recorded
                fell_back = bool((body.get("fallback") or {}).get("reason") in ("no_relevant_context", "low_confidence"))
                if status == "approved" and fell_back:
                    examples.append(Example(signals, False, False, "review", _held_back(row.id)))
                else:
                    examples.append(Example(signals, True, status == "approved", "review", _held_back(row.id)))
    return examples


def _held_back(key: str, share: float = 0.25) -> bool:
    """A stable quarter of the review labels is kept out of the fit, for the before/after figures."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < share


def _matrix(examples: list[Example]) -> np.ndarray:
    """One row of signals per example; a signal an example lacks (an audit record older than the signal) is the
    mean of the examples that have it, as Calibration.confidence reads it."""
    x = np.array([[float(e.signals.get(name, np.nan)) for name in SIGNALS] for e in examples], dtype=np.float64)
    present = ~np.isnan(x)
    means = np.where(present.any(axis=0), np.nansum(x, axis=0) / np.maximum(present.sum(axis=0), 1), 0.0)
    return np.where(present, x, means)


def fit(examples: list[Example], max_false_abstention: float, fitted_on: dict | None = None) -> Calibration:
    """A logistic regression of "answerable and right" on the signals, and the threshold for the target."""
    from sklearn.linear_model import LogisticRegression

    train = [e for e in examples if not e.held_back]
    labels = np.array([e.right for e in train])
    if len(train) < 10 or labels.all() or not labels.any():
        raise ValueError(f"need at least 10 labelled answers to fit on, some right and some not (have {len(train)})")
    x = _matrix(train)
    means, scales = x.mean(axis=0), x.std(axis=0)
    scales[scales < 1e-6] = 1.0
    model = LogisticRegression(C=1.0, max_iter=1000).fit((x - means) / scales, labels)
    weights = {name: round(float(w), 6) for name, w in zip(SIGNALS, model.coef_[0], strict=True)}
    intercept = round(float(model.intercept_[0]), 6)
    mean_of = {name: round(float(m), 6) for name, m in zip(SIGNALS, means, strict=True)}
    scale_of = {name: round(float(s), 6) for name, s in zip(SIGNALS, scales, strict=True)}
    draft = Calibration("draft", weights, intercept, mean_of, scale_of, 0.5)
    threshold = choose_threshold([draft.confidence(e.signals) for e in train if e.answerable], max_false_abstention)
    version = Calibration.version_of(weights, intercept, mean_of, scale_of, threshold)
    return Calibration(version, weights, intercept, mean_of, scale_of, threshold, fitted_on or {})


def choose_threshold(answerable_confidences: list[float], max_false_abstention: float) -> float:
    """The highest threshold at which at most `max_false_abstention` of the answerable questions abstain (confidence
    below it): abstaining on as many others as that allows."""
    ordered = sorted(answerable_confidences)
    allowed = math.floor(max_false_abstention * len(ordered) + 1e-9)  # answerable questions that may abstain
    if allowed >= len(ordered):
        return 1.0
    return round(max(0.0, ordered[allowed] - 1e-6), 6)


def figures(examples: list[Example], confidence, threshold: float) -> dict:
    """What a calibration gives on labelled answers: ECE, AUROC (right vs the rest), false abstention, abstention
    recall on unanswerable questions."""
    if not examples:
        return {}
    conf = [confidence(e.signals) for e in examples]
    rights = [e.right for e in examples]
    answerable = [c for c, e in zip(conf, examples, strict=True) if e.answerable]
    unanswerable = [c for c, e in zip(conf, examples, strict=True) if not e.answerable]
    out = {
        "examples": len(examples),
        "ece": expected_calibration_error(conf, rights),
        "auroc_right": round(auroc([c for c, r in zip(conf, rights, strict=True) if r],
                                   [c for c, r in zip(conf, rights, strict=True) if not r]), 4),
        "threshold": round(threshold, 4),
    }
    if answerable:
        out["false_abstention"] = round(sum(c < threshold for c in answerable) / len(answerable), 4)
    if unanswerable:
        out["abstention_recall"] = round(sum(c < threshold for c in unanswerable) / len(unanswerable), 4)
    return out


def write_examples(examples: list[Example], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(asdict(e), sort_keys=True) + "\n" for e in examples), encoding="utf-8")


def read_examples(path: Path) -> list[Example]:
    if not path.is_file():
        return []
    return [Example(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def calibrate(
    examples: list[Example], *, max_false_abstention: float, before: Calibration | None, uncalibrated, sources: list[str],
) -> tuple[Calibration, dict]:
    """Fits on the examples not held back; the figures of the previous calibration (or the uncalibrated
    confidence) and of the new one on the held-back examples."""
    held = [e for e in examples if e.held_back]
    fitted_on = {
        "sources": sources,
        "fit_examples": sum(not e.held_back for e in examples),
        "held_back_examples": len(held),
        "max_false_abstention": max_false_abstention,
        "origins": sorted({e.origin for e in examples}),
        "search_fusion": SEARCH_SCORE_SCALE,  # the scale of the search_score signal
    }
    after = fit(examples, max_false_abstention, fitted_on)
    report = {
        "before": figures(held, before.confidence if before else uncalibrated, before.threshold if before else 0.5),
        "after": figures(held, after.confidence, after.threshold),
        "after_on_fit_set": figures([e for e in examples if not e.held_back], after.confidence, after.threshold),
    }
    after = Calibration(after.version, after.weights, after.intercept, after.means, after.scales, after.threshold,
                        {**fitted_on, "figures": report})
    return after, report


def uncalibrated(signals: dict[str, float]) -> float:
    """The confidence without a calibration: the cross-encoder's probability that the best sentence answers."""
    return float(sigmoid(signals.get("best_logit", -60.0)))


def recalibrate(store: CalibrationStore, base: Calibration | None, review: ReviewQueue, tenant: str,
                examples: list[Example], sources: list[str], *, from_review: bool,
                max_false_abstention: float) -> tuple[Calibration, dict, list[Example]]:
    """Fits a new calibration on `examples` (and, `from_review`, on the labels `base` was fitted on plus `tenant`'s
    review decisions) and saves it in `store`, its labelled signals beside it; the caller puts it in use."""
    examples = list(examples)
    if from_review:
        # The review queue is read whole each time: the earlier fit's review labels are replaced, not added twice.
        # The labels `base` was fitted on keep their signals, but search scores on another scale (`readable`) count as
        # missing (the mean of the examples that have one, as `_matrix` reads it).
        earlier = read_examples(store.examples_path(base)) if base else []
        examples += [replace(e, signals=base.readable(e.signals)) for e in earlier if e.origin != "review"]
        examples += examples_from_review(review, tenant)
        sources = [*sources, "review"]
    calibration, report = calibrate(examples, max_false_abstention=max_false_abstention, before=base,
                                    uncalibrated=uncalibrated, sources=sources)
    store.save(calibration)
    write_examples(examples, store.examples_path(calibration))
    return calibration, report, examples
