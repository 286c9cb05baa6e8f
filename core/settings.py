"""Cairn's one typed settings object: every command and service reads it (env prefix CAIRN_, nested with __)."""

from __future__ import annotations

import os
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Profile(StrEnum):
    """Embedded: Qdrant Edge on disk, SQLite, in-process worker. Server: Qdrant server, Redis, separate workers."""

    EMBEDDED = "embedded"
    SERVER = "server"


class EmbedderName(StrEnum):
    BGE_SMALL_ONNX = "bge-small-onnx"
    MINILM = "minilm"


class VectorStoreName(StrEnum):
    EDGE = "edge"  # Qdrant Edge in this process, on disk (the embedded profile)
    QDRANT = "qdrant"  # qdrant-client: a Qdrant server, or its local mode (`location`)


class GeneratorName(StrEnum):
    EXTRACTIVE = "extractive"
    LLM = "llm"


class AnswerCacheName(StrEnum):
    MEMORY = "memory"
    REDIS = "redis"


class QdrantSettings(BaseModel):
    # Set `url` for a Qdrant server (server profile). `location=":memory:"` selects qdrant-client's local mode,
    # which runs the same request code as the server and is what the contract tests use.
    url: str | None = None
    location: str | None = None
    # qdrant-client's local mode on disk: the server's request code against a folder, owned by one process (like
    # Edge). Where no Qdrant server can run, it stands in for one beside Postgres and Redis (the reliability runs).
    path: Path | None = None
    api_key: SecretStr | None = None
    timeout_s: float = 10.0
    prefix: str = "cairn"
    # Embedded profile: the Edge index owned by a child process, so that its searches, which hold the interpreter
    # lock, do not hold up this process's other threads (core/vectorstore/process.py). False: in this process.
    index_process: bool = True


class EmbedderSettings(BaseModel):
    name: EmbedderName = EmbedderName.BGE_SMALL_ONNX
    batch_size: int | None = Field(default=None, ge=1, le=512)  # None: the model's own default
    threads: int = Field(default=1, ge=1)


class ChunkingSettings(BaseModel):
    strategy: str = "sentence"
    chunk_size: int = Field(default=256, ge=16, le=4096)
    chunk_overlap: int = Field(default=32, ge=0)


class IngestSettings(BaseModel):
    max_file_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    # A whole upload request over this is refused (413) before it is read; a single file over max_file_bytes is
    # rejected on its own and the others go on.
    max_request_bytes: int = Field(default=500 * 1024 * 1024, ge=1)
    # Tesseract languages for images and pages without a text layer, joined with '+' (e.g. "eng+deu").
    ocr_languages: str = Field(default="eng", pattern=r"^[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*$")
    ocr_page_timeout_s: float = Field(default=60.0, gt=0)
    # LibreOffice's conversion of legacy Office and ODF files (.doc, .ppt, .xls, .odp, .ods, .rtf).
    convert_timeout_s: float = Field(default=90.0, gt=0)
    parse_timeout_s: float = Field(default=120.0, gt=0)
    parser_memory_bytes: int = Field(default=4 * 1024 * 1024 * 1024, ge=64 * 1024 * 1024)
    archive_max_members: int = Field(default=500, ge=1)
    archive_max_total_bytes: int = Field(default=200 * 1024 * 1024, ge=1)
    archive_max_ratio: float = Field(default=100.0, gt=1)
    archive_max_depth: int = Field(default=2, ge=0)


class WorkerSettings(BaseModel):
    # Tasks run at once per worker: threads sharing the embedded index, or prefork processes on a Qdrant server.
    # One more than the cores: while a task waits on the parser's child process or the database, another embeds
    # (measured on SciFact, 2 cores: 3 tasks ingest 10% faster than 2).
    concurrency: int = Field(default_factory=lambda: (os.cpu_count() or 1) + 1, ge=1)
    # A task that met a dependency failure (database, broker, disk full) is retried this many times, waiting
    # retry_base_s, then twice as long each time (at most 60 s, half to all of it): about 4 minutes in all.
    task_retries: int = Field(default=8, ge=0)
    retry_base_s: float = Field(default=2.0, gt=0)
    queue: str = "cairn.ingest"
    # Redis re-delivers a task whose worker died (no ack) after this long; it must exceed the longest task, or a
    # slow task runs twice. None: three parse timeouts plus five minutes.
    visibility_timeout_s: float | None = Field(default=None, gt=0)
    # An item still queued this long while the queue is empty lost its task (Redis popped it as a connection
    # dropped): a worker queues a new one (workers.requeue).
    requeue_after_s: float = Field(default=120.0, gt=0)
    # An item's stage (parsing, chunking, ...) is written to the job store at most this often: a small file passes
    # every stage in a fraction of a second, and four writes would cost more than its parsing. 0: every stage.
    stage_write_interval_s: float = Field(default=0.5, ge=0)


class RetrievalSettings(BaseModel):
    # How dense and sparse (BM25) results are fused. DBSF (each ranking's scores normalized, then summed) ranks SciFact
    # better than RRF (nDCG@10 0.736 against 0.723); answers read each passage's RRF score beside it (README).
    fusion: Literal["rrf", "dbsf"] = "dbsf"
    # Cross-encoder reranking of the fused candidates. Off by default: on SciFact it adds 0.014 nDCG@10 for 100x the
    # search time (3 s per query on this 2-core machine; README, Measured). Answers always score sentences with it.
    rerank: bool = False
    rerank_depth: int = Field(default=20, ge=1, le=200)  # fused candidates the cross-encoder scores
    # Intra-op threads of the cross-encoder, which reranks and scores the sentences of every extractive answer (91% of
    # an answer's time); only serving uses it, unlike the embedder (one thread per worker task). On this 2-core
    # machine one thread gives 4-19% more answers per second at 4 at once, and 2 threads answer a lone question
    # 9-18% sooner (both well under the 400 ms p99 target; benchmarks/README.md): set 2 or more for a lightly
    # loaded API on a machine with cores to spare.
    rerank_threads: int = Field(default=1, ge=1, le=64)
    top_k: int = Field(default=10, ge=1, le=100)


class AnswerSettings(BaseModel):
    generator: GeneratorName = GeneratorName.EXTRACTIVE
    # Below this confidence nothing is generated: the answer says the knowledge base does not cover the question
    # and it goes to human review. Chosen on SciFact's answerable/unanswerable split (see README, Measured).
    min_confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    passages: int = Field(default=4, ge=1, le=20)  # top passages the generator reads
    max_sentences: int = Field(default=4, ge=1, le=10)  # extractive: sentences in an answer (the best and those nearly as good)
    # Sentences of those passages the cross-encoder scores per answer, those holding the most of the question's
    # (BM25-weighted) words: the cross-encoder is almost all of an answer's CPU (README, Measured).
    scored_sentences: int = Field(default=10, ge=1, le=100)
    # ...and of those only the ones holding at least this share of what the best-holding one holds (of the question
    # or of one of its parts; 3 are always scored): a sentence with far fewer of the question's words seldom answers
    # best, and skipping it saves its model call. 0 scores all `scored_sentences`.
    scored_share: float = Field(default=0.3, ge=0.0, le=1.0)
    # The confidence is a calibrated model of the evidence's signals (retrieval.calibration; `cairn calibrate`),
    # whose threshold then replaces min_confidence. False: the cross-encoder's probability, cut at min_confidence.
    calibrate: bool = True
    calibration_file: Path | None = None  # a calibration to use instead of the data dir's newest or the shipped one


class EvalSettings(BaseModel):
    # Where `POST /v1/evals` finds datasets (a run names a folder below it); unset, the API runs no evals.
    datasets_dir: Path | None = None


class AuthSettings(BaseModel):
    # True: every route but health needs an API key. False: open (everyone acts as admin of the default tenant).
    # None (default): required in the server profile, and in the embedded profile as soon as a key exists, so a
    # fresh local install works with no setup and creating the first key (`cairn keys create`) closes it.
    required: bool | None = None


class LimitSettings(BaseModel):
    """Rate limits (the `limits` library; moving windows in Redis when the server profile has it, else in memory).
    They count requests made with an API key: per key and per tenant. 429 with Retry-After when exceeded."""

    enabled: bool = True
    per_key: str = "300/minute"
    per_tenant: str = "1200/minute"


class CacheSettings(BaseModel):
    """The answer cache: Redis when the server profile has it (shared by API processes), else in memory."""

    enabled: bool = True
    ttl_s: float = Field(default=24 * 3600, gt=0)
    max_entries: int = Field(default=10_000, ge=1)  # in memory


class BreakerSettings(BaseModel):
    """Circuit breakers per dependency (LLM, Qdrant server, Redis): open after `failures` in a row, retry after."""

    failures: int = Field(default=3, ge=1)
    reset_s: float = Field(default=15.0, gt=0)


class FaultSettings(BaseModel):
    """Fault injection, off by default: hold a process at named points of the write path (`core.failpoints`) for
    `hold_s` so that a reliability run can SIGKILL it exactly there; each point reached is logged to `marker`."""

    hold_at: frozenset[str] = frozenset()
    hold_s: float = Field(default=5.0, ge=0)
    marker: Path | None = None


class LLMSettings(BaseModel):
    """Any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, llama.cpp server)."""

    base_url: str | None = None
    model: str = "gpt-4o-mini"
    api_key: SecretStr = SecretStr("not-needed")
    timeout_s: float = Field(default=20.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10)
    max_tokens: int = Field(default=512, ge=16)
    # A follow-up is rewritten into a self-contained question by the LLM within this long (one try), else offline.
    condense_timeout_s: float = Field(default=10.0, gt=0)
    # Prices per million tokens, for cost accounting (0 for a self-hosted model).
    input_price_per_mtok: float = Field(default=0.0, ge=0)
    output_price_per_mtok: float = Field(default=0.0, ge=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CAIRN_", env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Path(".cairn")
    database_url: str | None = None
    redis_url: str | None = None
    tenant: str = "default"
    log_format: Literal["json", "console"] = "json"  # `cairn serve` and `cairn worker` logs, one record per line
    # OpenTelemetry traces go to this OTLP/HTTP endpoint (e.g. http://collector:4318/v1/traces); unset: no tracing.
    otlp_endpoint: str | None = None
    collection: str = "default"

    qdrant: QdrantSettings = QdrantSettings()
    embedder: EmbedderSettings = EmbedderSettings()
    chunking: ChunkingSettings = ChunkingSettings()
    ingest: IngestSettings = IngestSettings()
    worker: WorkerSettings = WorkerSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    answer: AnswerSettings = AnswerSettings()
    llm: LLMSettings = LLMSettings()
    eval: EvalSettings = EvalSettings()
    auth: AuthSettings = AuthSettings()
    limits: LimitSettings = LimitSettings()
    breakers: BreakerSettings = BreakerSettings()
    cache: CacheSettings = CacheSettings()
    faults: FaultSettings = FaultSettings()

    @property
    def profile(self) -> Profile:
        return Profile.SERVER if self.qdrant.url else Profile.EMBEDDED

    @property
    def embedded_index(self) -> bool:
        """True when the index is a folder on disk owned by one process (a Qdrant Edge shard, or qdrant-client's local
        mode on a path): no server URL or location."""
        return not (self.qdrant.url or self.qdrant.location)

    @property
    def vector_store(self) -> VectorStoreName:
        if self.qdrant.url or self.qdrant.location or self.qdrant.path:
            return VectorStoreName.QDRANT
        return VectorStoreName.EDGE

    @property
    def answer_cache(self) -> AnswerCacheName:
        """Redis when the deployment has it (shared by API processes), else this process's memory."""
        return AnswerCacheName.REDIS if self.redis_url else AnswerCacheName.MEMORY

    @property
    def in_process_worker(self) -> bool:
        """Without a broker the worker runs inside the process that owns the data (the embedded default)."""
        return not self.redis_url

    @cached_property
    def resolved_data_dir(self) -> Path:
        path = self.data_dir.expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path

    def model_copy(self, *, update=None, deep: bool = False):
        # pydantic copies the instance dict, cached values included: a copy with another data_dir must not keep
        # the original's resolved one.
        copy = super().model_copy(update=update, deep=deep)
        copy.__dict__.pop("resolved_data_dir", None)
        return copy

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.resolved_data_dir / 'cairn.db'}"

    @property
    def broker_url(self) -> str:
        return self.redis_url or "memory://"


def get_settings() -> Settings:
    return Settings()
