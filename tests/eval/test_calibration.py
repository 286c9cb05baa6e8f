"""The calibrated confidence: fitting, the threshold for a false-abstention target, ECE, and the loop from review
decisions back into the threshold (through the real API)."""

from __future__ import annotations

import math
import random

import pytest

from eval.calibrate import Example, calibrate, choose_threshold, figures, fit, recalibrate, uncalibrated, write_examples
from eval.reliability import expected_calibration_error
from retrieval.calibration import SIGNALS, CalibrationStore
from tests.conftest import speech_app


def synthetic(n: int, seed: int = 7) -> list[Example]:
    """Answers whose chance of being right rises with two of the signals (a logistic relation, as fitted)."""
    rng = random.Random(seed)
    examples = []
    for i in range(n):
        signals = {name: rng.gauss(0, 1) for name in SIGNALS}
        z = 2.0 * signals["best_logit"] + signals["coverage"] - 0.5
        right = rng.random() < 1 / (1 + math.exp(-z))
        examples.append(Example(signals, right or i % 3 != 0, right, "synthetic", held_back=i % 4 == 0))
    return examples


def searched(examples: list[Example]) -> list[Example]:
    """The examples with an RRF-scale search score that tells right answers (0.03) from the rest (0.02)."""
    for e in examples:
        e.signals["search_score"] = 0.03 if e.right else 0.02
    return examples


def test_the_threshold_keeps_false_abstention_at_the_target():
    confidences = [i / 100 for i in range(100)]
    threshold = choose_threshold(confidences, 0.05)
    assert sum(c < threshold for c in confidences) == 5
    assert choose_threshold(confidences, 0.0) <= 0.0 + 1e-6 and choose_threshold([0.3], 1.0) == 1.0


def test_expected_calibration_error():
    assert expected_calibration_error([0.9] * 10, [True] * 9 + [False]) == 0.0
    assert expected_calibration_error([0.9] * 10, [False] * 10) == 0.9


def test_a_fitted_calibration_is_calibrated_on_held_back_data_and_versioned(tmp_path):
    examples = synthetic(2000)
    calibration = fit(examples, 0.05)
    held = [e for e in examples if e.held_back]
    result = figures(held, calibration.confidence, calibration.threshold)
    assert result["ece"] < 0.08 and result["auroc_right"] > 0.75
    assert result["false_abstention"] <= 0.1
    store = CalibrationStore(tmp_path)
    store.save(calibration)
    assert store.current() == calibration and calibration.version.startswith("cal-")
    assert fit(examples, 0.05).version == calibration.version  # same labels, same model, same version
    assert fit(examples, 0.20).threshold > calibration.threshold
    with pytest.raises(ValueError):
        fit([e for e in examples if e.right], 0.05)


def test_a_missing_signal_counts_as_its_mean():
    """An answer without a signal (an audit record written before the signal existed) is scored as if that signal
    were average, in fitting and in use."""
    examples = synthetic(400)
    for e in examples[::2]:
        del e.signals["passage_rank"]
    calibration = fit(examples, 0.05)
    signals = {name: 0.3 for name in SIGNALS}
    absent = {k: v for k, v in signals.items() if k != "passage_rank"}
    average = {**absent, "passage_rank": calibration.means["passage_rank"]}
    assert calibration.confidence(absent) == pytest.approx(calibration.confidence(average))
    assert calibration.confidence(absent) != pytest.approx(calibration.confidence({**absent, "passage_rank": 3.0}))


ANSWERABLE = [
    "Which country is Putin invading, causing chaos in Europe and beyond?",
    "What does the speech say about credit card late fees?",
    "What did the President say about the corporate minimum tax?",
    "What does the speech say about police funding?",
    "What is said about the Supreme Court and Roe v. Wade?",
    "What does the speech say about veterans?",
    "What did the President say about infrastructure?",
    "What does the speech say about climate change?",
    "What does the speech say about the price of insulin?",
    "How much would billionaires pay under the proposed minimum tax?",
    "What did the President say about the CHIPS Act?",
    "What happened to the cost of prescription drugs?",
    "What does the speech say about Social Security and Medicare?",
    "What did the President propose for child care?",
    "What does the speech say about the border?",
]
OFF_TOPIC = [
    "What is the recipe for a classic margarita cocktail?",
    "How do penguins keep their eggs warm?",
    "Who won the 1998 football World Cup?",
    "How many moons does Jupiter have?",
    "What is the boiling point of ethanol?",
    "Who painted the Girl with a Pearl Earring?",
]


def test_review_decisions_change_the_fitted_threshold(tmp_path, bge, parser, monkeypatch):
    monkeypatch.setenv("CAIRN_ANSWER__CALIBRATE", "false")  # start uncalibrated: only the review's labels count
    with speech_app(tmp_path / "data", bge, parser) as client:
        asked = [client.post("/v1/answer", json={"question": q}).json() for q in ANSWERABLE + OFF_TOPIC]
        assert all(a["signals"] and a["calibration"] == "uncalibrated" for a in asked)
        for a in asked:  # every answer into the review queue (fallbacks are there already)
            if not a["review_id"]:
                a["review_id"] = client.post("/v1/feedback", json={"answer_id": a["id"], "rating": "down"}).json()["review_id"]
        # First decisions: the speech answers approved, the off-topic ones approved as unanswerable.
        for a in asked:
            assert client.post(f"/v1/review/{a['review_id']}", json={"action": "approve"}).status_code == 200
        first = client.post("/v1/calibrations", json={"max_false_abstention": 0.0})
        assert first.status_code == 200, first.text
        current = client.get("/v1/calibrations/current").json()
        assert current["version"] == first.json()["version"] and current["fitted_on"]["sources"] == ["review"]
        assert current["fitted_on"]["search_fusion"] == "rrf"  # the scale its search_score signal was read on
        after = client.post("/v1/answer", json={"question": ANSWERABLE[0]}).json()
        assert after["calibration"] == first.json()["version"]
        record = client.get(f"/v1/answers/{after['id']}").json()
        assert record["calibration"] == first.json()["version"]

        # Reviewers then reject three more answers as wrong: refitted on these decisions, the threshold changes.
        weakest = sorted(asked[: len(ANSWERABLE)], key=lambda a: a["signals"]["best_logit"])[:3]
        for a in weakest:
            wrong = client.post("/v1/answer", json={"question": a["question"] + " Explain."}).json()
            review = wrong["review_id"] or client.post(
                "/v1/feedback", json={"answer_id": wrong["id"], "rating": "down"}).json()["review_id"]
            assert client.post(f"/v1/review/{review}", json={"action": "reject"}).status_code == 200
        second = client.post("/v1/calibrations", json={"max_false_abstention": 0.0})
        assert second.status_code == 200, second.text
        assert second.json()["version"] != first.json()["version"]
        assert second.json()["threshold"] != first.json()["threshold"]


def test_a_calibration_fitted_on_another_search_score_scale_reads_it_as_average():
    """The search score is the RRF score whichever fusion ranked the passages. A calibration fitted when a DBSF-ranked
    search reported its DBSF score instead reads the search score as average (neither for nor against)."""
    examples = searched(synthetic(400))
    signals = {name: 0.0 for name in SIGNALS}
    high, low = {**signals, "search_score": 0.032}, {**signals, "search_score": 0.016}
    for fitted_on in ({"search_fusion": "rrf"}, {}):  # recorded as RRF, or fitted before the scale was recorded
        fitted = fit(examples, 0.05, fitted_on)
        assert fitted.confidence(high) > fitted.confidence(low)
    on_dbsf = fit(examples, 0.05, {"search_fusion": "dbsf"})
    assert on_dbsf.confidence(high) == on_dbsf.confidence(low) == on_dbsf.confidence(
        {**signals, "search_score": on_dbsf.means["search_score"]})


def test_a_refit_reports_a_previous_calibration_of_another_scale_without_its_search_scores():
    """The before/after report of a refit whose previous calibration was fitted on DBSF-scale search scores: its
    figures do not depend on the (RRF-scale) search scores it cannot read, so they are not nonsense; the refit
    records the RRF scale."""
    examples = searched(synthetic(400))
    previous = fit(examples, 0.05, {"search_fusion": "dbsf"})
    reports = []
    for scale in (1.0, 2.0):
        rescaled = [Example({**e.signals, "search_score": e.signals["search_score"] * scale}, e.answerable, e.right,
                            e.origin, e.held_back) for e in examples]
        after, report = calibrate(rescaled, max_false_abstention=0.05, before=previous, uncalibrated=uncalibrated,
                                  sources=["synthetic"])
        reports.append(report["before"])
        assert after.fitted_on["search_fusion"] == "rrf"
    assert reports[0] == reports[1]
    assert reports[0]["auroc_right"] > 0.6  # the other signals still rank answers


def test_a_refit_from_review_reads_the_earlier_search_scores_only_on_the_same_scale(tmp_path):
    """A refit from the review queue adds the labels the calibration in use was fitted on: their search scores count
    as they are when they are RRF scores, and as missing when that calibration was fitted on DBSF-scale ones."""
    from core.db import Database
    from retrieval.review import ReviewQueue

    examples = searched(synthetic(400))
    db = Database(f"sqlite:///{tmp_path / 'cairn.db'}")
    db.migrate()
    refit = {}
    try:
        for scale in ("rrf", "dbsf"):
            store = CalibrationStore(tmp_path / scale)
            base = fit(examples, 0.05, {"search_fusion": scale})
            store.save(base)
            write_examples(examples, store.examples_path(base))
            refit[scale] = recalibrate(store, base, ReviewQueue(db), "acme", [], [], from_review=True,
                                       max_false_abstention=0.05)[0]
    finally:
        db.dispose()
    assert refit["rrf"].weights["search_score"] > 1.0  # it separates right from wrong answers here
    assert abs(refit["dbsf"].weights["search_score"]) < 1e-6
    assert refit["dbsf"].fitted_on["search_fusion"] == "rrf"
