"""The reranker contract, run against every implementation (the packaged ms-marco cross-encoder, int8 ONNX)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from retrieval.rerank import OnnxCrossEncoder

QUERY = "How many Stanley Cups have the Toronto Maple Leafs won?"
PASSAGES = ["The Toronto Maple Leafs have won the Stanley Cup 13 times.", "Insulin regulates the uptake of glucose.",
            "Hockey is played on ice."]


class RerankerContract:
    """Every reranker must pass these. Subclasses provide `reranker`."""

    @pytest.fixture
    def reranker(self):
        raise NotImplementedError

    def test_one_finite_score_per_passage_in_their_order(self, reranker):
        scores = reranker.score(QUERY, PASSAGES)
        assert scores.shape == (len(PASSAGES),) and np.isfinite(scores).all()
        assert np.allclose(reranker.score(QUERY, PASSAGES[::-1]), scores[::-1], atol=1e-4)

    def test_no_passages_give_no_scores(self, reranker):
        assert reranker.score(QUERY, []).shape == (0,)

    def test_the_answering_passage_scores_highest(self, reranker):
        assert int(np.argmax(reranker.score(QUERY, PASSAGES))) == 0

    def test_scores_are_deterministic_and_a_long_passage_is_scored(self, reranker):
        assert np.allclose(reranker.score(QUERY, PASSAGES), reranker.score(QUERY, PASSAGES), atol=1e-6)
        (long,) = reranker.score(QUERY, [PASSAGES[0] + " " + "ice " * 5000])
        assert np.isfinite(long)

    def test_it_names_its_model(self, reranker):
        assert reranker.model_id


class TestOnnxCrossEncoder(RerankerContract):
    @pytest.fixture(scope="class")
    def reranker(self):
        return OnnxCrossEncoder()

    def test_batches_and_the_shared_pool_give_the_scores_of_one_pair_at_a_time(self, reranker):
        passages = PASSAGES * 7 + ["ice " * n for n in range(1, 12)]  # several batches, of several lengths
        alone = np.array([reranker.score(QUERY, [p])[0] for p in passages])
        assert np.allclose(reranker.score(QUERY, passages), alone, atol=1e-3)
        with ThreadPoolExecutor(4) as requests:  # concurrent requests share the pool; none gets another's scores
            results = list(requests.map(lambda q: reranker.score(q, passages), [QUERY, "glucose", QUERY, "hockey on ice"]))
        assert np.allclose(results[0], alone, atol=1e-3) and np.allclose(results[2], alone, atol=1e-3)
        assert np.allclose(results[1], reranker.score("glucose", passages), atol=1e-3)
