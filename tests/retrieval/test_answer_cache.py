"""The answer cache: a repeated question is answered from the cache (its own audit record, no tokens spent), a new
corpus version or other settings miss it, fallbacks are never cached; the Redis cache is shared and fails open."""

from __future__ import annotations

import time

import pytest

from benchmarks.faults import TcpProxy
from core.settings import AnswerCacheName, CacheSettings, Settings
from ingest.pipeline import IngestTarget
from retrieval.cache import ANSWER_CACHES, RedisAnswerCache, cache_key, normalise
from tests.api.test_faults import EXCERPT
from tests.conftest import open_root
from tests.retrieval.test_answer import HEALTH_Q, OFF_TOPIC


@pytest.fixture
def excerpt_runtime(tmp_path, bge, parser):
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)
    with open_root(settings, bge, parser) as rt:
        path = tmp_path / "excerpt.md"
        path.write_text(EXCERPT, encoding="utf-8")
        target = IngestTarget("acme", "speeches", "sentence")
        assert rt.ingest.ingest(path, display=path.name, source=str(path), target=target).status.value == "indexed"
        rt.catalog.record_corpus_version("acme", "speeches")
        yield rt, target


def test_a_repeated_question_is_answered_from_the_cache_until_the_corpus_changes(excerpt_runtime, tmp_path):
    rt, target = excerpt_runtime
    ask = lambda q: rt.answers.answer(q, tenant="acme", collection="speeches")  # noqa: E731
    first = ask(HEALTH_Q)
    again = ask("  " + HEALTH_Q.lower().rstrip("?") + " ")  # the same question, written differently
    assert not first.cached and again.cached and again.id != first.id
    assert (again.answer, again.citations, again.corpus_version) == (first.answer, first.citations, first.corpus_version)
    assert set(again.timings_ms) == {"cache", "total"} and again.usage.input_tokens == 0
    assert rt.answer_log.record("acme", again.id)["retrieved"] == rt.answer_log.record("acme", first.id)["retrieved"]
    assert not rt.answers.answer(HEALTH_Q, tenant="globex", collection="speeches").cached  # tenants never share

    off = [ask(OFF_TOPIC) for _ in range(2)]
    assert not any(a.cached for a in off) and off[0].review_id != off[1].review_id  # fallbacks are worked out again

    other = tmp_path / "other.txt"
    other.write_text("The quarterly report covers revenue, staffing and the new office in Lisbon.", encoding="utf-8")
    assert rt.ingest.ingest(other, display=other.name, source=str(other), target=target).status.value == "indexed"
    rt.catalog.record_corpus_version("acme", "speeches")
    after = ask(HEALTH_Q)
    assert not after.cached and after.corpus_version != first.corpus_version


def test_keys_depend_on_everything_that_decides_an_answer():
    base = cache_key("t", "c", "Q?", "v1", {"top_k": None}, "f")
    assert base == cache_key("t", "c", "  q ", "v1", {"top_k": None}, "f") and normalise(" A  b? ") == "a b"
    for changed in (("u", "c", "Q?", "v1", {"top_k": None}, "f"), ("t", "d", "Q?", "v1", {"top_k": None}, "f"),
                    ("t", "c", "Q?", "v2", {"top_k": None}, "f"), ("t", "c", "Q?", "v1", {"top_k": 3}, "f"),
                    ("t", "c", "Q?", "v1", {"top_k": None}, "g"), ("t", "c", "R?", "v1", {"top_k": None}, "f")):
        assert cache_key(*changed) != base


class AnswerCacheContract:
    """Every answer cache must pass these. Subclasses provide `cache`."""

    @pytest.fixture
    def cache(self):
        raise NotImplementedError

    def test_a_miss_is_none(self, cache):
        assert cache.get("cairn:answer:nothing-here") is None

    def test_an_answer_comes_back_as_it_was_put(self, cache):
        entry = {"answer": {"answer": "x", "citations": [{"quote": "é ✓", "start": 0}]}, "model": "m", "retrieved": []}
        cache.put("cairn:answer:k", entry)
        assert cache.get("cairn:answer:k") == entry

    def test_a_newer_answer_replaces_the_older(self, cache):
        cache.put("cairn:answer:k", {"answer": 1})
        cache.put("cairn:answer:k", {"answer": 2})
        assert cache.get("cairn:answer:k") == {"answer": 2}

    def test_an_entry_expires(self, cache_with_ttl):
        cache_with_ttl.put("cairn:answer:short", {"answer": 1})
        time.sleep(1.2)
        assert cache_with_ttl.get("cairn:answer:short") is None


class TestMemoryAnswerCache(AnswerCacheContract):
    @pytest.fixture
    def cache(self):
        return ANSWER_CACHES.build(AnswerCacheName.MEMORY, CacheSettings(max_entries=10, ttl_s=60))

    @pytest.fixture
    def cache_with_ttl(self):
        return ANSWER_CACHES.build(AnswerCacheName.MEMORY, CacheSettings(max_entries=10, ttl_s=1))

    def test_the_oldest_entries_make_room(self, cache):
        for i in range(11):
            cache.put(f"cairn:answer:{i}", {"answer": i})
        assert cache.get("cairn:answer:0") is None and cache.get("cairn:answer:10") == {"answer": 10}


class TestRedisAnswerCache(AnswerCacheContract):
    @pytest.fixture
    def cache(self, redis_url):
        return ANSWER_CACHES.build(AnswerCacheName.REDIS, CacheSettings(ttl_s=60), redis_url)

    @pytest.fixture
    def cache_with_ttl(self, redis_url):
        return ANSWER_CACHES.build(AnswerCacheName.REDIS, CacheSettings(ttl_s=1), redis_url)


def test_every_answer_cache_setting_has_an_implementation():
    assert set(ANSWER_CACHES) == {name.value for name in AnswerCacheName}


def test_a_redis_cache_that_is_down_is_a_miss_not_an_error(redis_url):
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    proxy = TcpProxy("127.0.0.1", port)
    cache = RedisAnswerCache(f"redis://127.0.0.1:{proxy.port}/11", 60)
    cache.put("cairn:answer:k", {"answer": 1})
    assert cache.get("cairn:answer:k") == {"answer": 1}
    proxy.cut()
    assert cache.get("cairn:answer:k") is None
    cache.put("cairn:answer:k", {"answer": 2})  # no exception
