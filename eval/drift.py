"""Drift: are recent questions unlike the reference window's? Measured from the answer log.

Measures: the shift of the question-embedding centroid (1 - cosine of the two means), PSI and the two-sample KS test
on question length and on the top retrieval score, and the change in fallback and thumbs-down rates. A window
"drifts" when any measure passes its threshold (PSI > 0.25 is the usual "significant shift" rule)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from scipy import stats

from core.db import AnswerRow
from core.embedders import Embedder
from core.metrics import Metrics
from retrieval.audit import AnswerLog
from retrieval.review import ReviewQueue


@dataclass(frozen=True)
class DriftThresholds:
    # The centroid of n questions moves ~0.8/n by chance alone (bge-small, SciFact claims), so its verdict is a
    # permutation test (does it move more than random splits of the pooled questions?) plus a minimum effect.
    centroid_pvalue: float = 0.01
    centroid_min_shift: float = 0.02
    psi: float = 0.25
    ks_pvalue: float = 0.01
    rate_increase: float = 0.10  # fallback or thumbs-down rate, absolute
    min_questions: int = 20  # per window; fewer gives "insufficient data", not a verdict


def psi(reference: Sequence[float], recent: Sequence[float], bins: int | None = None) -> float:
    """Population stability index over the reference's quantile bins (an empty bin counts as 0.5 of a question).

    By default one bin per 25 values of the smaller window (2 to 10): PSI's noise grows with bins / n, and 10 bins
    over 60 questions would cross the 0.25 rule by chance alone."""
    ref, new = np.asarray(reference, dtype=float), np.asarray(recent, dtype=float)
    bins = bins or int(np.clip(min(len(ref), len(new)) // 25, 2, 10))
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)))
    if len(edges) < 2:  # a constant reference: everything in one bin
        edges = np.array([ref[0] - 0.5, ref[0] + 0.5])
    edges[0], edges[-1] = -np.inf, np.inf
    ref_share = (np.histogram(ref, edges)[0] + 0.5) / (len(ref) + 0.5 * (len(edges) - 1))
    new_share = (np.histogram(new, edges)[0] + 0.5) / (len(new) + 0.5 * (len(edges) - 1))
    return float(np.sum((new_share - ref_share) * np.log(new_share / ref_share)))


def centroid_shift(a: np.ndarray, b: np.ndarray) -> float:
    """1 - cosine similarity of the two windows' mean question vectors."""
    x, y = a.mean(axis=0), b.mean(axis=0)
    return float(1 - x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))


def permutation_pvalue(a: np.ndarray, b: np.ndarray, observed: float, rounds: int = 200, seed: int = 0) -> float:
    """How often a random split of the pooled questions into windows of the same sizes moves the centroid as far."""
    pooled, rng = np.vstack([a, b]), np.random.default_rng(seed)
    hits = 0
    for _ in range(rounds):
        order = rng.permutation(len(pooled))
        hits += centroid_shift(pooled[order[: len(a)]], pooled[order[len(a) :]]) >= observed
    return (hits + 1) / (rounds + 1)


def _compare(reference: Sequence[float], recent: Sequence[float], limits: DriftThresholds) -> dict:
    if len(reference) < 2 or len(recent) < 2:
        return {"psi": None, "ks": None, "ks_pvalue": None, "drifted": False}
    ks = stats.ks_2samp(reference, recent)
    value = psi(reference, recent)
    return {
        "psi": round(value, 4), "ks": round(float(ks.statistic), 4), "ks_pvalue": float(ks.pvalue),
        "reference_mean": round(float(np.mean(reference)), 4), "recent_mean": round(float(np.mean(recent)), 4),
        "drifted": value > limits.psi or ks.pvalue < limits.ks_pvalue,
    }


def report(
    reference: Sequence[AnswerRow],
    recent: Sequence[AnswerRow],
    embed: Callable[[list[str]], np.ndarray],
    thumbs_down: Callable[[Sequence[AnswerRow]], int],
    limits: DriftThresholds = DriftThresholds(),
) -> dict:
    """The drift of `recent` against `reference`; `embed` gives normalised question vectors, `thumbs_down` counts
    the down-votes a window's answers received."""
    out: dict = {"reference_questions": len(reference), "recent_questions": len(recent)}
    if len(reference) < limits.min_questions or len(recent) < limits.min_questions:
        out.update(status="insufficient_data", drifted=False, reasons=[
            f"each window needs at least {limits.min_questions} questions"])
        return out
    ref_vectors, new_vectors = embed([r.question for r in reference]), embed([r.question for r in recent])
    shift = centroid_shift(ref_vectors, new_vectors)
    p_value = permutation_pvalue(ref_vectors, new_vectors, shift)
    measures = {
        "centroid_shift": {"value": round(shift, 4), "pvalue": round(p_value, 4),
                           "drifted": p_value < limits.centroid_pvalue and shift > limits.centroid_min_shift},
        "question_length": _compare([len(r.question.split()) for r in reference], [len(r.question.split()) for r in recent], limits),
        "top_score": _compare([r.top_score for r in reference if r.top_score is not None],
                              [r.top_score for r in recent if r.top_score is not None], limits),
    }
    for name, count in (("fallback_rate", lambda rows: sum(r.fallback_reason is not None for r in rows)),
                        ("thumbs_down_rate", thumbs_down)):
        before, after = count(reference) / len(reference), count(recent) / len(recent)
        measures[name] = {"reference": round(before, 4), "recent": round(after, 4), "value": round(after - before, 4),
                          "drifted": after - before > limits.rate_increase}
    reasons = [name for name, m in measures.items() if m["drifted"]]
    out.update(status="drift" if reasons else "stable", drifted=bool(reasons), reasons=reasons, measures=measures)
    return out


def windows(now: datetime, recent_days: float, reference_days: float) -> tuple[tuple[datetime, datetime], tuple[datetime, datetime]]:
    """(reference, recent) as [start, end): the recent window ends now, the reference window ends where it starts."""
    recent_start = now - timedelta(days=recent_days)
    return (recent_start - timedelta(days=reference_days), recent_start), (recent_start, now)


def tenant_report(log: AnswerLog, review: ReviewQueue, embedder: Embedder, metrics: Metrics, tenant: str, now: datetime, recent_days: float = 7, reference_days: float = 28,
                  limits: DriftThresholds = DriftThresholds()) -> dict:
    """The drift report of one tenant's questions from the answer log, published as metrics."""
    (ref_start, ref_end), (new_start, new_end) = windows(now, recent_days, reference_days)
    reference = log.between(tenant, ref_start, ref_end)
    recent = log.between(tenant, new_start, new_end)

    def thumbs_down(rows: Sequence[AnswerRow]) -> int:
        return len(review.down_voted([r.id for r in rows]))

    result = report(reference, recent, embedder.embed_documents, thumbs_down, limits)
    result.update(tenant=tenant, reference_window=[ref_start.isoformat(), ref_end.isoformat()],
                  recent_window=[new_start.isoformat(), new_end.isoformat()])
    metrics.observe_drift(tenant, result)
    return result
