"""The answer cache: the same question, asked of the same corpus version with the same settings, is answered from
the cache (no retrieval, no model, no LLM tokens). A new corpus version changes the key, so ingesting or deleting a
document invalidates every answer built on the old corpus. Only confident answers are cached: a fallback (weak
evidence, LLM down) is worked out again next time, and goes to review again."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from typing import Protocol

from cachetools import TTLCache

from core.registry import Registry
from core.settings import AnswerCacheName, CacheSettings

log = logging.getLogger("cairn.cache")
_SPACE = re.compile(r"\s+")


def normalise(question: str) -> str:
    return _SPACE.sub(" ", question).strip().casefold().rstrip("?!. ")


def cache_key(tenant: str, collection: str, question: str, corpus_version: str | None, options: dict, fingerprint: str) -> str:
    material = json.dumps([tenant, collection, normalise(question), corpus_version, options, fingerprint], sort_keys=True, default=str)
    return "cairn:answer:" + hashlib.sha256(material.encode()).hexdigest()


class AnswerCache(Protocol):
    def get(self, key: str) -> dict | None: ...

    def put(self, key: str, answer: dict) -> None: ...


class MemoryAnswerCache:
    """In-process (the embedded profile: one serving process)."""

    def __init__(self, max_entries: int, ttl_s: float):
        self._entries: TTLCache = TTLCache(maxsize=max_entries, ttl=ttl_s)
        self._lock = threading.Lock()

    def get(self, key: str) -> dict | None:
        with self._lock:
            return self._entries.get(key)

    def put(self, key: str, answer: dict) -> None:
        with self._lock:
            self._entries[key] = answer


class RedisAnswerCache:
    """Shared by every API process (the server profile). A cache that is down is a miss, never an error."""

    def __init__(self, url: str, ttl_s: float, breaker=None):
        import redis

        self._client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._ttl = max(1, int(ttl_s))
        self._breaker = breaker

    def _call(self, fn, *args):
        try:
            return self._breaker.call(fn, *args) if self._breaker else fn(*args)
        except Exception as exc:  # includes an open breaker
            log.warning("answer cache skipped: %s", type(exc).__name__)
            return None

    def get(self, key: str) -> dict | None:
        raw = self._call(self._client.get, key)
        return json.loads(raw) if raw else None

    def put(self, key: str, answer: dict) -> None:
        self._call(self._client.set, key, json.dumps(answer), self._ttl)


def _memory(settings: CacheSettings, redis_url: str | None = None, breaker=None) -> AnswerCache:
    return MemoryAnswerCache(settings.max_entries, settings.ttl_s)


def _redis(settings: CacheSettings, redis_url: str | None = None, breaker=None) -> AnswerCache:
    return RedisAnswerCache(redis_url, settings.ttl_s, breaker)


ANSWER_CACHES: Registry[AnswerCache] = Registry("answer cache")
ANSWER_CACHES.register(AnswerCacheName.MEMORY, _memory)
ANSWER_CACHES.register(AnswerCacheName.REDIS, _redis)
