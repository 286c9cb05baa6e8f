"""What an eval suite uses: the services of an eval deployment (its own settings, index and caches), built by the
composition root and handed to the suite; the suites never build services themselves."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.settings import Settings

if TYPE_CHECKING:  # start-up cost: the CLI's argument parsing should not import every model library
    from core.embedders import Embedder
    from core.vectorstore import VectorStore
    from ingest.catalog import DocumentCatalog
    from ingest.parsing.base import Parser
    from ingest.pipeline import IngestService
    from retrieval.answer import AnswerService
    from retrieval.calibration import Calibration
    from retrieval.rerank import Reranker
    from retrieval.search import SearchService


@dataclass(frozen=True)
class EvalServices:
    settings: Settings
    catalog: DocumentCatalog
    store: VectorStore
    embedder: Embedder
    parser: Parser
    reranker: Reranker
    ingest: IngestService
    search: SearchService
    answers: AnswerService
    calibration: Calibration | None


# Settings -> the services of a deployment on those settings, closed when the block ends (the composition root's).
OpenServices = Callable[[Settings], AbstractContextManager[EvalServices]]
