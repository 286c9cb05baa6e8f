"""The composition root: the one place that builds Cairn's services from settings and wires them together.

It sits above every layer (core <- ingest <- retrieval <- eval, workers <- here <- the routers, the CLI and the
Celery worker process) and is the only code that knows which implementation each extension point gets (each
chosen through its registry by the setting's value). Parts are built lazily, on first use: a process builds only
what it uses (the API process that only queues work never opens the vector store or loads a model).

Tests and eval deployments replace parts through the constructor: `Root(settings, embedding_model=...,
parser=...)`; a part given there is used as it is (and not closed by this root)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property

import pybreaker
import redis
from celery import Celery
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

from api.openai_service import OpenAIService
from api.operations import Calibrations, Readiness
from api.ratelimit import RateLimiter
from core.access import ApiKeyStore
from core.breakers import make_breaker
from core.db import CONNECTION_ERRORS, Database
from core.embedders import CachedEmbedder, Embedder, build_embedder
from core.embedding_cache import SqlEmbeddingCache
from core.failpoints import Failpoints
from core.metrics import Metrics
from core.settings import Settings
from core.tracing import build_tracer
from core.types import TransientError
from core.vectorstore import VectorStore, build_vector_store
from eval.runs import EvalRuns, EvalRunStore
from eval.services import EvalServices
from ingest.catalog import DocumentCatalog
from ingest.parsing import IsolatedParser, parse_options
from ingest.parsing.base import Parser
from ingest.pipeline import IngestService
from ingest.uploads import UploadArea
from retrieval.answer import AnswerService
from retrieval.audit import AnswerLog
from retrieval.cache import ANSWER_CACHES, AnswerCache
from retrieval.calibration import SHIPPED, Calibration, CalibrationStore, load_calibration
from retrieval.conversation import ConversationStore
from retrieval.generation import ExtractiveGenerator, GeneratorUnavailable
from retrieval.generators import WRITERS
from retrieval.rerank import OnnxCrossEncoder, Reranker
from retrieval.review import ReviewQueue
from retrieval.search import SearchService
from workers.celery_app import EVAL_TASK, TaskHandlers, make_celery
from workers.intake import UploadIntake
from workers.jobs import JobStore
from workers.requeue import LostTaskSweeper
from workers.submit import Submitter, TaskQueue
from workers.tasks import ItemRunner


class Root:
    def __init__(self, settings: Settings, **parts):
        unknown = sorted(set(parts) - _PARTS)
        if unknown:
            raise TypeError(f"Root has no part {', '.join(unknown)}; parts: {', '.join(sorted(_PARTS))}")
        self.settings = settings
        self._given = frozenset(parts)
        self.__dict__.update(parts)  # a cached_property finds a given part in the instance dict and never builds it

    # -- foundations ------------------------------------------------------------------------------------------
    @cached_property
    def breakers(self) -> dict[str, pybreaker.CircuitBreaker]:
        """One circuit breaker per remote dependency, shared by everything in this process that calls it."""
        cfg = self.settings.breakers
        return {
            "llm": make_breaker("llm", cfg.failures, cfg.reset_s, lambda exc: isinstance(exc, GeneratorUnavailable)),
            "vector_store": make_breaker("vector_store", cfg.failures, cfg.reset_s, _is_remote_failure),
            "redis": make_breaker("redis", cfg.failures, cfg.reset_s, _is_remote_failure),  # broker, cache, rate limits
            "database": make_breaker("database", cfg.failures, cfg.reset_s, lambda exc: isinstance(exc, CONNECTION_ERRORS)),
        }

    @cached_property
    def db(self) -> Database:
        db = Database(self.settings.sqlalchemy_url, self.breakers["database"])
        db.migrate()
        return db

    @cached_property
    def store(self) -> VectorStore:
        return build_vector_store(self.settings, self.breakers["vector_store"])

    @cached_property
    def embedding_model(self) -> Embedder:
        """The model itself (CAIRN_EMBEDDER__NAME), loaded on first use."""
        return build_embedder(self.settings.embedder)

    @cached_property
    def embedder(self) -> CachedEmbedder:
        """The model behind this deployment's embedding cache: a text already embedded is never embedded again."""
        return CachedEmbedder(self.embedding_model, SqlEmbeddingCache(self.db))

    @cached_property
    def parser(self) -> Parser:
        ingest = self.settings.ingest
        return IsolatedParser(ingest.parse_timeout_s, ingest.parser_memory_bytes, options=parse_options(ingest))

    @cached_property
    def reranker(self) -> Reranker:
        return OnnxCrossEncoder(threads=self.settings.retrieval.rerank_threads)

    @cached_property
    def tracer(self):
        return build_tracer(self.settings.otlp_endpoint, "cairn")

    @cached_property
    def keys(self) -> ApiKeyStore:
        return ApiKeyStore(self.db)

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        return RateLimiter(self.settings.limits, self.settings.redis_url, self.breakers["redis"])

    # -- ingestion --------------------------------------------------------------------------------------------
    @cached_property
    def catalog(self) -> DocumentCatalog:
        return DocumentCatalog(self.db)

    @cached_property
    def uploads(self) -> UploadArea:
        return UploadArea(self.settings.resolved_data_dir / "uploads")

    @cached_property
    def ingest(self) -> IngestService:
        return IngestService(self.settings, self.catalog, self.store, self.embedder, self.parser, uploads=self.uploads,
                             failpoints=Failpoints(self.settings.faults))

    @cached_property
    def jobs(self) -> JobStore:
        return JobStore(self.db)

    @cached_property
    def celery(self) -> Celery:
        # The handlers build the services a task uses on its first call, in the process that runs it.
        return make_celery(self.settings, TaskHandlers(
            ingest_item=lambda item_id, final, claim: self.item_runner.run(item_id, final, claim),
            eval_run=lambda run_id: self.eval_runs.execute(run_id),
        ))

    @cached_property
    def queue(self) -> TaskQueue:
        return TaskQueue(self.celery, self.breakers["redis"] if self.settings.redis_url else None)

    @cached_property
    def submitter(self) -> Submitter:
        return Submitter(self.jobs, self.queue)

    @cached_property
    def intake(self) -> UploadIntake:
        """Uploads checked and queued; needs only the database and the queue (an API process never opens the index)."""
        return UploadIntake(self.catalog, self.uploads, self.submitter.submit, self.settings.ingest.max_file_bytes,
                            self.settings.collection, self.settings.chunking.strategy)

    @cached_property
    def item_runner(self) -> ItemRunner:
        return ItemRunner(self.jobs, self.ingest, self.catalog, self.store, self.settings.qdrant.prefix,
                          stage_write_interval_s=self.settings.worker.stage_write_interval_s)

    def sweeper(self) -> LostTaskSweeper:
        return LostTaskSweeper(self.jobs, self.queue, self.queue_length, self.settings.worker.requeue_after_s)

    def queue_length(self) -> dict[str, int]:
        queue = self.settings.worker.queue
        if not self.settings.redis_url:  # the in-process broker: what is queued is what the job store says
            return {queue: self.jobs.count_by_status().get("queued", 0)}
        client = redis.Redis.from_url(self.settings.redis_url, socket_timeout=1, socket_connect_timeout=1)
        try:
            return {queue: client.llen(queue)}
        finally:
            client.close()

    def open_ingestion(self) -> IngestService:
        """Builds the ingestion services now, once: before worker threads share them, and so that a second process
        is told at once that the embedded index is taken."""
        return self.ingest

    def resume_deletions(self) -> int:
        """Finishes deletions that a killed process left half-done (cheap when there are none: the index is not
        opened)."""
        return self.ingest.resume_deletions() if self.catalog.pending_deletions() else 0

    # -- retrieval and answers --------------------------------------------------------------------------------
    @cached_property
    def search(self) -> SearchService:
        return SearchService(self.settings, self.store, self.embedder, self.reranker, tracer=self.tracer)

    @cached_property
    def answer_log(self) -> AnswerLog:
        return AnswerLog(self.db)

    @cached_property
    def review(self) -> ReviewQueue:
        return ReviewQueue(self.db)

    @cached_property
    def conversations(self) -> ConversationStore:
        return ConversationStore(self.db)

    @cached_property
    def answer_cache(self) -> AnswerCache | None:
        cfg = self.settings.cache
        if not cfg.enabled:
            return None
        return ANSWER_CACHES.build(self.settings.answer_cache, cfg, self.settings.redis_url, self.breakers["redis"])

    @cached_property
    def calibrations(self) -> CalibrationStore:
        return CalibrationStore(self.settings.resolved_data_dir / "calibration")

    @cached_property
    def calibration(self) -> Calibration | None:
        """The calibration answers use: CAIRN_ANSWER__CALIBRATION_FILE, else the newest `cairn calibrate` wrote
        for this data dir, else the one shipped with Cairn; None (uncalibrated) when CAIRN_ANSWER__CALIBRATE=false."""
        cfg = self.settings.answer
        if not cfg.calibrate:
            return None
        if cfg.calibration_file is not None:
            return load_calibration(cfg.calibration_file)
        return self.calibrations.current() or (load_calibration(SHIPPED) if SHIPPED.is_file() else None)

    def use_calibration(self, calibration: Calibration) -> None:
        """Answers from now on use this calibration (a refit through the API takes effect at once)."""
        self.__dict__["calibration"] = calibration
        if "answers" in self.__dict__:
            self.answers.use_calibration(calibration)

    @cached_property
    def answers(self) -> AnswerService:
        writer = WRITERS.build(self.settings.answer.generator, self.settings.llm, self.reranker, self.breakers["llm"])
        return AnswerService(
            self.settings, self.search, ExtractiveGenerator(self.reranker, self.settings.answer.max_sentences,
                                                     max_scored=self.settings.answer.scored_sentences,
                                                     min_share=self.settings.answer.scored_share),
            self.catalog, self.answer_log, writer, metrics=self.metrics, cache=self.answer_cache, tracer=self.tracer,
            calibration=self.calibration, conversations=self.conversations,
        )

    @cached_property
    def metrics(self) -> Metrics:
        metrics = Metrics()
        metrics.watch("cairn_review_queue_depth", "Answers waiting for human review", [], lambda: {(): self.review.depth()})
        metrics.watch("cairn_feedback", "Feedback received, by rating", ["rating"], self.review.feedback_counts)
        metrics.watch("cairn_ingest_items", "Ingestion items (files), by status", ["status"], self.jobs.count_by_status)
        metrics.watch("cairn_queue_length", "Ingestion tasks waiting in the broker", ["queue"], self.queue_length)
        return metrics

    def auth_required(self) -> bool:
        required = self.settings.auth.required
        if required is not None:
            return required
        return self.settings.profile == "server" or self.keys.any_active()

    # -- services of the HTTP edge ---------------------------------------------------------------------------
    @cached_property
    def openai(self) -> OpenAIService:
        return OpenAIService(self.settings, self.catalog, self.embedder, self.answers)

    @cached_property
    def readiness(self) -> Readiness:
        return Readiness(self.settings, lambda: self.db, lambda: self.store, lambda: self.celery, self.breakers)

    @cached_property
    def calibration_admin(self) -> Calibrations:
        return Calibrations(self.calibrations, self.review, lambda: self.calibration, self.use_calibration)

    # -- evaluation -------------------------------------------------------------------------------------------
    @cached_property
    def eval_store(self) -> EvalRunStore:
        return EvalRunStore(self.db, self.settings.resolved_data_dir / "evals")

    @cached_property
    def eval_runs(self) -> EvalRuns:
        return EvalRuns(self.settings, self.eval_store,
                        lambda ids, unsent: self.queue.send(EVAL_TASK, ids, unsent), self.open_eval)

    def eval_services(self) -> EvalServices:
        return EvalServices(
            settings=self.settings, catalog=self.catalog, store=self.store, embedder=self.embedder, parser=self.parser,
            reranker=self.reranker, ingest=self.ingest, search=self.search, answers=self.answers,
            calibration=self.calibration,
        )

    @contextmanager
    def open_eval(self, settings: Settings) -> Iterator[EvalServices]:
        """The services of an eval deployment on `settings` (its own index, database and caches), sharing this
        root's loaded models and parser; closed when the block ends."""
        shared = {"embedding_model": self.embedding_model, "parser": self.parser}  # the eval keeps its own cache
        if "reranker" in self.__dict__:  # shared only once loaded: an eval that never reranks does not load it
            shared["reranker"] = self.reranker
        child = Root(settings, **shared)
        try:
            yield child.eval_services()
        finally:
            child.close()

    def close(self) -> None:
        """Closes what this root built (a part given to it belongs to the giver)."""
        for name, release in (("parser", "close"), ("store", "close"), ("db", "dispose")):
            if name in self.__dict__ and name not in self._given:
                getattr(self.__dict__[name], release)()


_PARTS = frozenset(name for name, value in vars(Root).items() if isinstance(value, cached_property))


def _is_remote_failure(exc: BaseException) -> bool:
    return isinstance(exc, (TransientError, ConnectionError, OSError, BrokerError, RedisError))
