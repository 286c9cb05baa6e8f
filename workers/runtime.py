"""Wires Cairn's services from settings, lazily: a process builds only what it uses (the API process that only
queues work never opens the vector store or loads a model)."""

from __future__ import annotations

import threading
from functools import cached_property

from core.db import Database
from core.embedders import CachedEmbedder, build_embedder
from core.embedding_cache import SqlEmbeddingCache
from core.settings import Settings
from core.vectorstore import build_vector_store
from ingest.catalog import DocumentCatalog
from ingest.parsing import IsolatedParser, parse_options
from ingest.pipeline import IngestService
from ingest.uploads import UploadArea
from workers.intake import UploadIntake
from workers.jobs import JobStore
from workers.submit import submit


class Runtime:
    def __init__(self, settings: Settings):
        self.settings = settings

    @cached_property
    def db(self) -> Database:
        db = Database(self.settings.sqlalchemy_url, self.breakers["database"])
        db.migrate()
        return db

    @cached_property
    def catalog(self) -> DocumentCatalog:
        return DocumentCatalog(self.db)

    @cached_property
    def jobs(self) -> JobStore:
        return JobStore(self.db)

    @cached_property
    def breakers(self) -> dict:
        """One circuit breaker per remote dependency, shared by everything in this process that calls it."""
        from kombu.exceptions import OperationalError as BrokerError
        from redis.exceptions import RedisError

        from core.breakers import make_breaker
        from core.types import TransientError

        cfg = self.settings.breakers

        def failure(exc: BaseException) -> bool:
            return isinstance(exc, (TransientError, ConnectionError, OSError, BrokerError, RedisError))

        return {
            "llm": make_breaker("llm", cfg.failures, cfg.reset_s, _is_llm_failure),
            "vector_store": make_breaker("vector_store", cfg.failures, cfg.reset_s, failure),
            "redis": make_breaker("redis", cfg.failures, cfg.reset_s, failure),  # broker, answer cache, rate limits
            "database": make_breaker("database", cfg.failures, cfg.reset_s, _is_database_failure),
        }

    @cached_property
    def store(self):
        return build_vector_store(self.settings, self.breakers["vector_store"])

    @cached_property
    def embedder(self) -> CachedEmbedder:
        return CachedEmbedder(build_embedder(self.settings.embedder), SqlEmbeddingCache(self.db))

    @cached_property
    def parser(self) -> IsolatedParser:
        ingest = self.settings.ingest
        return IsolatedParser(ingest.parse_timeout_s, ingest.parser_memory_bytes, options=parse_options(ingest))

    @cached_property
    def uploads(self) -> UploadArea:
        return UploadArea(self.settings.resolved_data_dir / "uploads")

    @cached_property
    def ingest(self) -> IngestService:
        return IngestService(self.settings, self.catalog, self.store, self.embedder, self.parser, uploads=self.uploads)

    @cached_property
    def intake(self) -> UploadIntake:
        """Uploads checked and queued; needs only the database and the queue (an API process never opens the index)."""

        def submit_files(files, **target) -> str:
            return submit(self, files, **target)

        return UploadIntake(self.catalog, self.uploads, submit_files, self.settings.ingest.max_file_bytes)

    @cached_property
    def reranker(self):
        from retrieval.rerank import OnnxCrossEncoder

        return OnnxCrossEncoder(threads=self.settings.retrieval.rerank_threads)

    @cached_property
    def search(self):
        from retrieval.search import SearchService

        return SearchService(self.settings, self.store, self.embedder, self.reranker, tracer=self.tracer)

    @cached_property
    def answers(self):
        from retrieval.answer import AnswerService

        llm = None
        if self.settings.answer.generator == "llm":
            from retrieval.llm import OpenAIGenerator

            llm = OpenAIGenerator(self.settings.llm, self.reranker, breaker=self.breakers["llm"])
        return AnswerService(
            self.settings, self.search, self.reranker, self.catalog, self.answer_log, llm, metrics=self.metrics,
            cache=self.answer_cache, tracer=self.tracer, calibration=self.calibration, conversations=self.conversations,
        )

    @cached_property
    def conversations(self):
        from retrieval.conversation import ConversationStore

        return ConversationStore(self.db)

    def use_calibration(self, calibration) -> None:
        """Answers from now on use this calibration (a refit through the API takes effect at once)."""
        self.__dict__["calibration"] = calibration
        if "answers" in self.__dict__:
            self.answers.use_calibration(calibration)

    @cached_property
    def calibrations(self):
        from retrieval.calibration import CalibrationStore

        return CalibrationStore(self.settings.resolved_data_dir / "calibration")

    @cached_property
    def calibration(self):
        """The calibration answers use: CAIRN_ANSWER__CALIBRATION_FILE, else the newest `cairn calibrate` wrote
        for this data dir, else the one shipped with Cairn; None (uncalibrated) when CAIRN_ANSWER__CALIBRATE=false."""
        from retrieval.calibration import SHIPPED, load_calibration

        cfg = self.settings.answer
        if not cfg.calibrate:
            return None
        if cfg.calibration_file is not None:
            return load_calibration(cfg.calibration_file)
        return self.calibrations.current() or (load_calibration(SHIPPED) if SHIPPED.is_file() else None)

    @cached_property
    def tracer(self):
        from core.tracing import build_tracer

        return build_tracer(self.settings.otlp_endpoint, "cairn")

    @cached_property
    def answer_cache(self):
        from retrieval.cache import MemoryAnswerCache, RedisAnswerCache

        cfg = self.settings.cache
        if not cfg.enabled:
            return None
        if self.settings.redis_url:
            return RedisAnswerCache(self.settings.redis_url, cfg.ttl_s, self.breakers["redis"])
        return MemoryAnswerCache(cfg.max_entries, cfg.ttl_s)

    @cached_property
    def evals(self):
        from eval.runs import EvalRunStore

        return EvalRunStore(self.db, self.settings.resolved_data_dir / "evals")

    @cached_property
    def eval_lock(self) -> threading.Lock:
        return threading.Lock()

    @cached_property
    def answer_log(self):
        from retrieval.audit import AnswerLog

        return AnswerLog(self.db)

    @cached_property
    def review(self):
        from retrieval.review import ReviewQueue

        return ReviewQueue(self.db)

    @cached_property
    def metrics(self):
        from core.metrics import Metrics

        metrics = Metrics()
        metrics.watch("cairn_review_queue_depth", "Answers waiting for human review", [], lambda: {(): self.review.depth()})
        metrics.watch("cairn_feedback", "Feedback received, by rating", ["rating"], self.review.feedback_counts)
        metrics.watch("cairn_ingest_items", "Ingestion items (files), by status", ["status"], self.jobs.count_by_status)
        metrics.watch("cairn_queue_length", "Ingestion tasks waiting in the broker", ["queue"], self.queue_length)
        return metrics

    def queue_length(self) -> dict[str, int]:
        queue = self.settings.worker.queue
        if not self.settings.redis_url:  # the in-process broker: what is queued is what the job store says
            return {queue: self.jobs.count_by_status().get("queued", 0)}
        import redis

        client = redis.Redis.from_url(self.settings.redis_url, socket_timeout=1, socket_connect_timeout=1)
        try:
            return {queue: client.llen(queue)}
        finally:
            client.close()

    @cached_property
    def keys(self):
        from core.access import ApiKeyStore

        return ApiKeyStore(self.db)

    def auth_required(self) -> bool:
        required = self.settings.auth.required
        if required is not None:
            return required
        return self.settings.profile == "server" or self.keys.any_active()

    @cached_property
    def rate_limiter(self):
        from api.ratelimit import RateLimiter

        return RateLimiter(self.settings.limits, self.settings.redis_url, self.breakers["redis"])

    def open_ingestion(self) -> IngestService:
        """Builds the ingestion services now, once: before worker threads share them, and so that a second process
        is told at once that the embedded index is taken."""
        return self.ingest

    @cached_property
    def celery(self):
        from workers.celery_app import make_celery

        return make_celery(self.settings, runtime=self)

    def close(self) -> None:
        if "parser" in self.__dict__:
            self.parser.close()
        if "store" in self.__dict__:
            self.store.close()
        if "db" in self.__dict__:
            self.db.dispose()


def _is_llm_failure(exc: BaseException) -> bool:
    from retrieval.generation import GeneratorUnavailable

    return isinstance(exc, GeneratorUnavailable)


def _is_database_failure(exc: BaseException) -> bool:
    from core.db import CONNECTION_ERRORS

    return isinstance(exc, CONNECTION_ERRORS)
