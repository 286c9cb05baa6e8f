"""The embedder contract, run against every implementation: the registered models (bge-small ONNX, the default,
and all-MiniLM-L6-v2 through sentence-transformers) and the caching wrapper every deployment puts around them."""

from __future__ import annotations

import numpy as np
import pytest

from core.db import Database
from core.embedders import EMBEDDERS, CachedEmbedder, MiniLMEmbedder
from core.embedding_cache import SqlEmbeddingCache
from core.settings import EmbedderName

TEXTS = ["Insulin regulates the uptake of glucose by cells.", "The Maple Leafs play hockey in Toronto.", "é ✓ 日本"]


class EmbedderContract:
    """Every embedder must pass these. Subclasses provide `embedder`."""

    @pytest.fixture
    def embedder(self):
        raise NotImplementedError

    def test_vectors_have_the_declared_size_and_unit_norm(self, embedder):
        vectors = embedder.embed_documents(TEXTS)
        assert vectors.shape == (len(TEXTS), embedder.dim) and vectors.dtype == np.float32
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
        query = embedder.embed_query(TEXTS[0])
        assert query.shape == (embedder.dim,) and abs(float(np.linalg.norm(query)) - 1.0) < 1e-3

    def test_no_texts_give_no_vectors(self, embedder):
        assert embedder.embed_documents([]).shape == (0, embedder.dim)

    def test_a_very_long_text_is_embedded_not_refused(self, embedder):
        (vector,) = embedder.embed_documents([" ".join(["glucose"] * 20_000)])
        assert np.isfinite(vector).all() and abs(float(np.linalg.norm(vector)) - 1.0) < 1e-3

    def test_the_same_text_gives_the_same_vector_alone_or_in_a_batch(self, embedder):
        batch = embedder.embed_documents(TEXTS)
        alone = embedder.embed_documents([TEXTS[1]])[0]
        assert np.allclose(batch[1], alone, atol=1e-5)
        assert np.allclose(embedder.embed_documents(TEXTS), batch, atol=1e-6)

    def test_a_related_text_is_nearer_than_an_unrelated_one(self, embedder):
        query = embedder.embed_query("What does insulin do?")
        related, unrelated = embedder.embed_documents(TEXTS[:2])
        assert float(query @ related) > float(query @ unrelated)

    def test_it_names_its_model(self, embedder):
        assert embedder.model_id and embedder.dim > 0


class TestBgeSmallOnnx(EmbedderContract):
    @pytest.fixture
    def embedder(self, bge):
        return bge


@pytest.mark.slow
class TestMiniLM(EmbedderContract):
    @pytest.fixture(scope="class")
    def embedder(self):
        return EMBEDDERS.build(EmbedderName.MINILM, MiniLMEmbedder.default_batch_size, 1)


class TestCachedEmbedder(EmbedderContract):
    @pytest.fixture
    def embedder(self, bge, tmp_path):
        db = Database(f"sqlite:///{tmp_path / 'cache.db'}")
        db.migrate()
        yield CachedEmbedder(bge, SqlEmbeddingCache(db))
        db.dispose()

    def test_a_text_is_computed_once(self, embedder):
        embedder.embed_documents(TEXTS)
        embedder.embed_documents(TEXTS + TEXTS)
        assert embedder.computed == len(TEXTS)


def test_every_embedder_setting_has_an_implementation():
    assert set(EMBEDDERS) == {name.value for name in EmbedderName}
