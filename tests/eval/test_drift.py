"""The drift report finds a synthetic shift in the answer log and stays quiet on an unshifted window."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from core.db import AnswerRow
from eval.abstention import OFF_TOPIC
from eval.drift import psi, tenant_report
from retrieval.audit import Asker
from tests.conftest import SHARED_DATA

NOW = datetime.now(UTC)


def claims() -> list[str]:
    with (SHARED_DATA / "beir" / "scifact" / "queries.jsonl").open() as handle:
        texts = [json.loads(line)["text"] for line in handle]
    random.Random(7).shuffle(texts)
    return texts


def off_topic() -> list[str]:
    return [line.strip() for line in OFF_TOPIC.read_text().splitlines() if line.strip() and not line.startswith("#")]


def parts(root) -> tuple:
    """What the drift report reads: the answer log, the review queue, the embedder, the metrics."""
    return root.answer_log, root.review, root.embedder, root.metrics


def log(runtime, tenant: str, questions: list[str], days_ago: float, scores: tuple[float, float], fallback_share: float):
    rng = random.Random(len(questions) + int(days_ago))
    with runtime.db.session() as s:
        for i, question in enumerate(questions):
            fell_back = i < fallback_share * len(questions)
            s.add(AnswerRow(
                id=str(uuid.uuid4()), tenant=tenant, collection="c", question=question, confidence=0.5,
                fallback_reason="low_confidence" if fell_back else None, generator="extractive", body={},
                top_score=rng.uniform(*scores), created_at=NOW - timedelta(days=days_ago, minutes=i),
            ))


@pytest.fixture
def history(runtime):
    texts = claims()
    for tenant in ("stable", "shifted"):
        log(runtime, tenant, texts[:40], days_ago=20, scores=(0.4, 0.9), fallback_share=0.1)
    log(runtime, "stable", texts[40:80], days_ago=2, scores=(0.4, 0.9), fallback_share=0.1)
    log(runtime, "shifted", off_topic()[:40], days_ago=2, scores=(0.0, 0.35), fallback_share=0.8)
    return runtime


def test_an_unshifted_window_is_stable(history):
    report = tenant_report(*parts(history), "stable", NOW)
    assert report["status"] == "stable" and not report["drifted"], report
    assert report["reference_questions"] == report["recent_questions"] == 40
    assert report["measures"]["centroid_shift"]["pvalue"] > 0.01


def test_a_shifted_window_is_detected_and_published_as_metrics(history):
    answers = history.answer_log.between("shifted", NOW - timedelta(days=7))
    for row in answers[:15]:
        history.review.feedback(Asker("shifted"), row.id, "down")
    report = tenant_report(*parts(history), "shifted", NOW)
    assert report["drifted"] and report["status"] == "drift"
    assert {"centroid_shift", "top_score", "fallback_rate", "thumbs_down_rate"} <= set(report["reasons"]), report
    assert report["measures"]["thumbs_down_rate"]["recent"] == pytest.approx(15 / 40)
    exposition = history.metrics.exposition().decode()
    assert 'cairn_drift_detected{tenant="shifted"} 1.0' in exposition
    assert 'cairn_drift_score{measure="centroid_shift",tenant="shifted"}' in exposition


def test_too_few_questions_give_no_verdict(runtime):
    log(runtime, "new", claims()[:5], days_ago=20, scores=(0.4, 0.9), fallback_share=0)
    log(runtime, "new", claims()[5:10], days_ago=1, scores=(0.4, 0.9), fallback_share=0)
    report = tenant_report(*parts(runtime), "new", NOW)
    assert report["status"] == "insufficient_data" and not report["drifted"]


def test_psi_is_quiet_on_one_distribution_and_loud_on_another():
    rng = random.Random(1)
    same = psi([rng.gauss(0, 1) for _ in range(60)], [rng.gauss(0, 1) for _ in range(60)])
    moved = psi([rng.gauss(0, 1) for _ in range(60)], [rng.gauss(1.5, 1) for _ in range(60)])
    assert same < 0.25 < moved
