"""Operations services of the HTTP edge: readiness probes of every dependency, and refitting the calibration."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pybreaker
from celery import Celery
from sqlalchemy import text

from core.breakers import state
from core.db import Database
from core.settings import GeneratorName, Settings
from core.vectorstore import VectorStore
from eval import calibrate as fitting
from retrieval.calibration import Calibration, CalibrationStore
from retrieval.review import ReviewQueue


@dataclass
class Readiness:
    """Each dependency's state. Ready while answers can be given (`ready`, or `degraded` when the queue or the LLM
    is down: uploads or LLM answers stop, extractive answers go on); unavailable when the database or the vector
    store is down. The parts are given as getters: a probe builds nothing a process does not otherwise use."""

    settings: Settings
    db: Callable[[], Database]
    store: Callable[[], VectorStore]
    celery: Callable[[], Celery]
    breakers: dict[str, pybreaker.CircuitBreaker]

    def report(self) -> tuple[bool, dict]:
        checks = {"database": _probe(self._database), "vector_store": _probe(self._vector_store)}
        if self.settings.redis_url:
            checks["queue"] = _probe(self._queue)
        else:
            checks["queue"] = "ok (in-process)"
        if self.settings.answer.generator == GeneratorName.LLM:
            # Not part of readiness: without the LLM, answers are extractive (fallback reason llm_unavailable).
            checks["llm"] = "degraded: circuit open" if state(self.breakers["llm"]) == "open" else "ok"
        # Answering needs the database and the vector store; without the queue only uploads stop (503), so the
        # process stays in service, "degraded".
        ready = all(checks[name].startswith("ok") for name in ("database", "vector_store"))
        whole = all(value.startswith("ok") for value in checks.values())
        status = "unavailable" if not ready else "ready" if whole else "degraded"
        return ready, {"status": status, "checks": checks, "breakers": {name: state(b) for name, b in self.breakers.items()}}

    def _database(self) -> None:
        with self.db().session() as s:
            s.execute(text("SELECT 1"))

    def _vector_store(self) -> None:
        self.store().collection_exists("cairn-readiness-probe")

    def _queue(self) -> None:
        with self.celery().connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)


def _probe(check: Callable[[], None]) -> str:
    try:
        check()
    except Exception as exc:  # readiness reports, it does not raise
        return f"error: {type(exc).__name__}"
    return "ok"


@dataclass
class Calibrations:
    """The calibration answers use, and refitting it from the review queue's decisions (in use at once)."""

    store: CalibrationStore
    review: ReviewQueue
    current: Callable[[], Calibration | None]
    use: Callable[[Calibration], None]

    def refit(self, tenant: str, max_false_abstention: float) -> dict:
        """ValueError when the labels cannot make a calibration."""
        calibration, report, _ = fitting.recalibrate(
            self.store, self.current(), self.review, tenant, [], [], from_review=True,
            max_false_abstention=max_false_abstention)
        self.use(calibration)
        return {"version": calibration.version, "threshold": calibration.threshold, **report}
