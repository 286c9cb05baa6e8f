"""The answer cache: a repeated question is answered from the cache (its own audit record, no tokens spent), a new
corpus version or other settings miss it, fallbacks are never cached; the Redis cache is shared and fails open."""

from __future__ import annotations

import pytest

from core.settings import Settings
from ingest.pipeline import IngestTarget
from retrieval.cache import MemoryAnswerCache, RedisAnswerCache, cache_key, normalise
from tests.conftest import open_runtime
from tests.faults import TcpProxy
from tests.retrieval.test_answer import HEALTH_Q, OFF_TOPIC
from tests.api.test_faults import EXCERPT


@pytest.fixture
def excerpt_runtime(tmp_path, bge, parser):
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)
    with open_runtime(settings, bge, parser) as rt:
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


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_cache_contract(kind, redis_url):
    cache = MemoryAnswerCache(10, 60) if kind == "memory" else RedisAnswerCache(redis_url, 60)
    assert cache.get("cairn:answer:k") is None
    cache.put("cairn:answer:k", {"answer": {"answer": "x"}, "model": "m", "retrieved": []})
    assert cache.get("cairn:answer:k") == {"answer": {"answer": "x"}, "model": "m", "retrieved": []}


def test_a_redis_cache_that_is_down_is_a_miss_not_an_error(redis_url):
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    proxy = TcpProxy("127.0.0.1", port)
    cache = RedisAnswerCache(f"redis://127.0.0.1:{proxy.port}/11", 60)
    cache.put("cairn:answer:k", {"answer": 1})
    assert cache.get("cairn:answer:k") == {"answer": 1}
    proxy.cut()
    assert cache.get("cairn:answer:k") is None
    cache.put("cairn:answer:k", {"answer": 2})  # no exception
