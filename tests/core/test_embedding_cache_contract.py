"""The embedding-cache contract (core.embedders.EmbeddingCache), on every SQL backend Cairn supports."""

from __future__ import annotations

import numpy as np
import pytest

from core.db import Database
from core.embedding_cache import SqlEmbeddingCache


class EmbeddingCacheContract:
    """Every embedding cache must pass these. Subclasses provide `cache`."""

    @pytest.fixture
    def cache(self):
        raise NotImplementedError

    def test_unknown_keys_are_simply_absent(self, cache):
        assert cache.get_many([]) == {} and cache.get_many(["nope"]) == {}

    def test_vectors_come_back_as_stored_float32(self, cache):
        stored = {f"k{i}": np.random.default_rng(i).random(384).astype(np.float32) for i in range(3)}
        cache.put_many(stored)
        found = cache.get_many(["k0", "k2", "missing"])
        assert set(found) == {"k0", "k2"}
        assert all(found[k].dtype == np.float32 and np.array_equal(found[k], stored[k]) for k in found)

    def test_storing_a_key_again_keeps_the_first_vector(self, cache):
        cache.put_many({"k": np.ones(4, dtype=np.float32)})
        cache.put_many({"k": np.zeros(4, dtype=np.float32)})  # concurrent workers may embed one text twice
        assert np.array_equal(cache.get_many(["k"])["k"], np.ones(4, dtype=np.float32))
        cache.put_many({})

    def test_many_keys_at_once(self, cache):
        stored = {f"k{i}": np.full(2, i, dtype=np.float32) for i in range(1_200)}  # over one query's batch
        cache.put_many(stored)
        assert len(cache.get_many(list(stored))) == 1_200
        cache.delete_many(list(stored)[:700])
        assert set(cache.get_many(list(stored))) == set(list(stored)[700:])

    def test_forgotten_keys_are_gone(self, cache):
        cache.put_many({"a": np.ones(2, dtype=np.float32), "b": np.ones(2, dtype=np.float32)})
        cache.delete_many(["a", "never-stored"])
        assert set(cache.get_many(["a", "b"])) == {"b"}


class TestSqlEmbeddingCache(EmbeddingCacheContract):
    @pytest.fixture
    def cache(self, database_url):
        db = Database(database_url)
        db.migrate()
        yield SqlEmbeddingCache(db)
        db.dispose()
