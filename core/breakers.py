"""Circuit breakers, one per dependency (pybreaker): after a few failures in a row, calls fail at once for a while
instead of each waiting out a timeout; then one trial call decides whether the dependency is back."""

from __future__ import annotations

import pybreaker


def make_breaker(name: str, failures: int = 3, reset_s: float = 15.0, counts=None) -> pybreaker.CircuitBreaker:
    """`counts(exc)` says whether an exception is the dependency's failure (a bad request is not)."""
    exclude = [lambda exc: not counts(exc)] if counts else []
    return pybreaker.CircuitBreaker(fail_max=failures, reset_timeout=reset_s, exclude=exclude, name=name)


def state(breaker: pybreaker.CircuitBreaker) -> str:
    return str(breaker.current_state)  # closed, open, half-open
