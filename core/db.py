"""The SQL store (SQLite in the embedded profile, Postgres in the server profile): documents, jobs, caches."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pybreaker
from alembic import command
from alembic.config import Config
from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy import (
    true as sa_true,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SqlTimeoutError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import QueuePool

from core.breakers import make_breaker
from core.types import TransientError

MIGRATIONS = Path(__file__).with_name("migrations")
CONNECTION_ERRORS = (OperationalError, InterfaceError, SqlTimeoutError)


class DatabaseUnavailable(TransientError):
    """The database cannot be reached (its circuit breaker is open)."""

BASELINE_REVISION = "0001"  # the schema databases had before migrations
MIGRATION_LOCK = 0x6361_6972  # "cair": the Postgres advisory lock migrations take


def alembic_config(connection=None) -> Config:
    """Alembic's configuration, without an ini file: `cairn db` commands and `Database.migrate` share it."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator):
    """A timestamp that is always timezone-aware UTC when read back (SQLite keeps no zone; Postgres does)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class CollectionRow(Base):
    """A (tenant, collection, strategy) index and how it was built."""

    __tablename__ = "collections"
    tenant: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    strategy: Mapped[str] = mapped_column(String(64), primary_key=True)
    store_name: Mapped[str] = mapped_column(String(300))
    embedder: Mapped[str] = mapped_column(String(128))
    dim: Mapped[int] = mapped_column(Integer)
    chunk_size: Mapped[int] = mapped_column(Integer)
    chunk_overlap: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class DocumentRow(Base):
    """A live document: its current content and version."""

    __tablename__ = "documents"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    collection: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(Text)
    filename: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text, default="")
    mime_type: Mapped[str] = mapped_column(String(200), default="")
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    content_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    tags: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (Index("ix_documents_tenant_collection", "tenant", "collection"),)


class DocumentVersionRow(Base):
    """Every content a document has had, with its extracted text (citations quote text[start:end] of it)."""

    __tablename__ = "document_versions"
    document_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    written_by: Mapped[str | None] = mapped_column(String(36), nullable=True)  # the API key id; None: open API or CLI
    stored_path: Mapped[str | None] = mapped_column(Text, nullable=True)  # the kept upload (None: the user's own file)


class IndexEntryRow(Base):
    """Which version of a document a strategy's index holds, and how many chunks."""

    __tablename__ = "index_entries"
    document_id: Mapped[str] = mapped_column(String(36), ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    strategy: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    chunks: Mapped[int] = mapped_column(Integer)
    indexed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    # How its chunks were made (ingest.pipeline.INDEX_FORMAT when they were written; 1: before formats were recorded).
    index_format: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class DeletionRow(Base):
    """A document's deletion: while under way, what it must still remove, so that a process killed half-way through
    is finished by the next one (`IngestService.resume_deletions`). Once finished the row stays, emptied, as the
    document's tombstone: an upload accepted before `requested_at` is not ingested after it."""

    __tablename__ = "deletions"
    document_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128))
    collection: Mapped[str] = mapped_column(String(128))
    store_names: Mapped[list] = mapped_column(JSON)  # the index collections that held its chunks
    stored_paths: Mapped[list] = mapped_column(JSON)  # its kept upload files
    texts: Mapped[list] = mapped_column(JSON)  # its chunk texts, whose cached embeddings are forgotten
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class CorpusVersionRow(Base):
    """The corpus history: a hash of the manifest of live documents' content hashes, recorded at each change."""

    __tablename__ = "corpus_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(128))
    collection: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(64))
    documents: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (Index("ix_corpus_versions_scope", "tenant", "collection", "id"),)


class JobRow(Base):
    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    collection: Mapped[str] = mapped_column(String(128))
    strategy: Mapped[str] = mapped_column(String(64))
    # Top-level items without an outcome yet: the task that takes it to 0 knows the job is complete, without
    # scanning the job's items (which made a job of n files cost O(n^2)).
    remaining: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    api_key_id: Mapped[str | None] = mapped_column(String(36), nullable=True)  # who submitted it


class JobItemRow(Base):
    """One file of a job (or one member of an archive in it), its stage and outcome."""

    __tablename__ = "job_items"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(36), ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    path: Mapped[str] = mapped_column(Text)
    stored_path: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    labels: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # DocumentLabels.as_json()
    document_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    status: Mapped[str] = mapped_column(String(32), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    chunks: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The task (Celery task id) that started the item: only that task, redelivered after its worker died, may start
    # it again; another copy of the item's task (a re-queue) finds it taken (workers.jobs.JobStore.start).
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # False: a live document of the same source with other content makes this file a `conflict`, not a new version.
    replace: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    # Finding items that have waited too long (workers.requeue).
    __table_args__ = (Index("ix_job_items_status_updated", "status", "updated_at"),)


class AnswerRow(Base):
    """Every answer given, as returned to the user (the Answer object), for audit and review."""

    __tablename__ = "answers"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    collection: Mapped[str] = mapped_column(String(128))
    question: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float] = mapped_column(Float)
    fallback_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    generator: Mapped[str] = mapped_column(String(128))
    corpus_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    body: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # The audit trail beyond what the user was shown: who asked, which model, what it cost, what was retrieved.
    api_key_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    model: Mapped[str] = mapped_column(String(200), default="")
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    total_ms: Mapped[float] = mapped_column(Float, default=0.0)
    top_score: Mapped[float | None] = mapped_column(Float, nullable=True)  # the best retrieval score (drift)
    retrieved: Mapped[list | None] = mapped_column(JSON, nullable=True)  # [{chunk_id, document_id, score}]

    __table_args__ = (Index("ix_answers_tenant_created", "tenant", "created_at"),)


class FeedbackRow(Base):
    """A user's verdict on an answer, tied to the chunks that answer was built from."""

    __tablename__ = "feedback"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    answer_id: Mapped[str] = mapped_column(String(36), ForeignKey("answers.id", ondelete="CASCADE"), index=True)
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    api_key_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    rating: Mapped[str] = mapped_column(String(8))  # up, down
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    correction: Mapped[str | None] = mapped_column(Text, nullable=True)
    chunk_ids: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ApiKeyRow(Base):
    """An API key, stored as its sha256 (the key itself is shown once, at creation), bound to a tenant and a role."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the key's first characters, to tell keys apart in lists
    name: Mapped[str] = mapped_column(String(200))
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    role: Mapped[str] = mapped_column(String(16))  # reader, editor, admin
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class ReviewRow(Base):
    """The human-review queue: low-confidence answers and fallbacks, waiting for a person."""

    __tablename__ = "review_items"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    answer_id: Mapped[str] = mapped_column(String(36), ForeignKey("answers.id", ondelete="CASCADE"), index=True)
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    question: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, approved, edited, rejected
    resolution: Mapped[str | None] = mapped_column(Text, nullable=True)  # the reviewer's answer or note
    reviewer_key_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class EvalRunRow(Base):
    """An evaluation run started through the API (a Celery job): its request, status and results."""

    __tablename__ = "eval_runs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    suite: Mapped[str] = mapped_column(String(32))
    dataset: Mapped[str] = mapped_column(Text)
    options: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued, running, succeeded, failed
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class ConversationRow(Base):
    """A conversation: the turns of one user's follow-up questions (per tenant)."""

    __tablename__ = "conversations"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ConversationTurnRow(Base):
    """One question of a conversation, as asked and as made self-contained, with the answer it got."""

    __tablename__ = "conversation_turns"
    conversation_id: Mapped[str] = mapped_column(String(36), ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    standalone_question: Mapped[str] = mapped_column(Text)
    answer_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class EmbeddingCacheRow(Base):
    __tablename__ = "embedding_cache"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)


class Database:
    """An engine and a session factory. One per process; tests make their own."""

    def __init__(self, url: str, breaker: pybreaker.CircuitBreaker | None = None):
        self.url = url
        # After a few connection failures in a row, sessions fail at once for a while (DatabaseUnavailable) instead
        # of each request waiting out the connect timeout. Errors of a query (a constraint, a bug) do not count.
        self.breaker = breaker or make_breaker("database", counts=lambda exc: isinstance(exc, CONNECTION_ERRORS))
        is_sqlite = url.startswith("sqlite")
        if is_sqlite:
            # One connection, handed from thread to thread: SQLite takes one writer at a time anyway, and waiting
            # on the pool wakes at once where SQLite's busy handler sleeps in steps.
            self.engine = create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 30}, poolclass=QueuePool, pool_size=1,
                max_overflow=0, pool_timeout=120,
            )
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            # A database that is down must fail a request in seconds, not hang it (connect_timeout is libpq's).
            connect_args = {"connect_timeout": 5} if url.startswith("postgresql") else {}
            self.engine = create_engine(url, pool_pre_ping=True, pool_timeout=10, connect_args=connect_args)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def migrate(self) -> None:
        """Brings the schema to the newest migration (Alembic). Safe to run from many processes at once on Postgres
        (an advisory lock makes them take turns); a database made before migrations existed is stamped with the
        first revision, whose schema it holds, and upgraded from there."""
        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            config = alembic_config(connection)
            tables = set(inspect(connection).get_table_names())
            if "documents" in tables and "alembic_version" not in tables:
                command.stamp(config, BASELINE_REVISION)
            command.upgrade(config, "head")

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        with self._guarded(), self._sessions() as session, session.begin():
            yield session

    @contextlib.contextmanager
    def connection(self) -> Iterator[Connection]:
        """A transaction on a bare connection, for the statements every ingested file runs, built once at start-up:
        building a statement and passing it through an ORM session cost several times what SQLite spends on it,
        and on small files that bookkeeping was the largest part of ingestion after the model."""
        with self._guarded(), self.engine.begin() as connection:
            yield connection

    @contextlib.contextmanager
    def _guarded(self) -> Iterator[None]:
        try:
            with self.breaker.calling():
                yield
        except pybreaker.CircuitBreakerError as exc:
            raise DatabaseUnavailable("the database is unavailable (failed repeatedly; retried after a pause)") from exc

    def lock_document(self, connection: Connection, document_id: str) -> None:
        """Holds a document's lock until the connection's transaction ends, across processes: recording a version
        and writing a deletion's tombstone take it, so one sees the other whole. On Postgres an advisory lock; SQLite
        needs none (one process writes, through one connection)."""
        if self.dialect == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": document_id})

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.engine.dispose()


def insert_for(dialect: str):
    """The dialect's INSERT construct, which knows ON CONFLICT (SQLite and Postgres both have it)."""
    return pg_insert if dialect == "postgresql" else sqlite_insert


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Deleted rows are overwritten, not left in free pages: an erased document's text is gone from the file too.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()
