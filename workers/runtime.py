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
from ingest.parsing import IsolatedParser
from ingest.pipeline import IngestService
from workers.jobs import JobStore


class Runtime:
    def __init__(self, settings: Settings):
        self.settings = settings

    @cached_property
    def db(self) -> Database:
        db = Database(self.settings.sqlalchemy_url)
        db.create_all()
        return db

    @cached_property
    def catalog(self) -> DocumentCatalog:
        return DocumentCatalog(self.db)

    @cached_property
    def jobs(self) -> JobStore:
        return JobStore(self.db)

    @cached_property
    def store(self):
        return build_vector_store(self.settings)

    @cached_property
    def embedder(self) -> CachedEmbedder:
        return CachedEmbedder(build_embedder(self.settings.embedder), SqlEmbeddingCache(self.db))

    @cached_property
    def parser(self) -> IsolatedParser:
        ingest = self.settings.ingest
        return IsolatedParser(ingest.parse_timeout_s, ingest.parser_memory_bytes)

    @cached_property
    def ingest(self) -> IngestService:
        return IngestService(self.settings, self.catalog, self.store, self.embedder, self.parser)

    @cached_property
    def reranker(self):
        from retrieval.rerank import OnnxCrossEncoder

        return OnnxCrossEncoder(threads=self.settings.embedder.threads)

    @cached_property
    def search(self):
        from retrieval.search import SearchService

        return SearchService(self.settings, self.store, self.embedder, self.reranker)

    @cached_property
    def answers(self):
        from retrieval.answer import AnswerService

        llm = None
        if self.settings.answer.generator == "llm":
            from retrieval.llm import OpenAIGenerator

            llm = OpenAIGenerator(self.settings.llm, self.reranker)
        return AnswerService(self.settings, self.search, self.reranker, self.catalog, self.review, llm)

    @cached_property
    def evals(self):
        from eval.runs import EvalRunStore

        return EvalRunStore(self.db, self.settings.resolved_data_dir / "evals")

    @cached_property
    def eval_lock(self) -> threading.Lock:
        return threading.Lock()

    @cached_property
    def review(self):
        from retrieval.review import ReviewQueue

        return ReviewQueue(self.db)

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
