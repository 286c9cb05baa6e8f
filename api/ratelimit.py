"""Rate limits per API key and per tenant (the `limits` library): 429 with Retry-After when one is exceeded.

The counters live in Redis when the server profile has it (every API process shares them), else in memory. When
Redis is down the limits are not enforced for a while (a circuit breaker) rather than failing every request."""

from __future__ import annotations

import logging
import math
import time

import pybreaker
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from core.access import Principal
from core.breakers import make_breaker
from core.settings import LimitSettings

log = logging.getLogger("cairn.api")


class RateLimiter:
    def __init__(self, settings: LimitSettings, redis_url: str | None, breaker: pybreaker.CircuitBreaker | None = None):
        self.enabled = settings.enabled
        self.per_key = parse(settings.per_key)
        self.per_tenant = parse(settings.per_tenant)
        if redis_url:
            storage = storage_from_string(redis_url, key_prefix="cairn-limits", socket_connect_timeout=0.5, socket_timeout=0.5)
        else:
            storage = storage_from_string("memory://")
        self._limiter = MovingWindowRateLimiter(storage)
        self._breaker = breaker or make_breaker("rate-limit storage", failures=1)

    def retry_after(self, principal: Principal) -> int | None:
        """None when the request may go on; else the seconds until it may be retried. Counts the request."""
        if not self.enabled or principal.key_id is None:  # an open API (local use) is not limited
            return None
        try:
            return self._breaker.call(self._check, principal)
        except pybreaker.CircuitBreakerError:
            return None
        except Exception as exc:  # the storage is down: serve unlimited rather than fail
            log.warning("rate limits not enforced: their storage failed (%s)", type(exc).__name__)
            return None

    def _check(self, principal: Principal) -> int | None:
        for item, scope in ((self.per_key, ("key", principal.key_id)), (self.per_tenant, ("tenant", principal.tenant))):
            if not self._limiter.hit(item, *scope):
                reset = self._limiter.get_window_stats(item, *scope).reset_time
                return max(1, math.ceil(reset - time.time()))
        return None
