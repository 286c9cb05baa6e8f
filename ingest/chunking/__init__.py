"""Chunking strategies, by name: each turns a parsed document into chunks that are exact spans of its text."""

from ingest.chunking.base import Chunker
from ingest.chunking.registry import PARENT_STRATEGIES, STRATEGIES, build_chunker, check_strategy

__all__ = ["PARENT_STRATEGIES", "STRATEGIES", "Chunker", "build_chunker", "check_strategy"]
