"""Chunking strategies by name, so settings, the CLI and the eval harness can pick one."""

from __future__ import annotations

from typing import Callable

from ingest.chunking.base import Chunker
from ingest.chunking.strategies import (
    HierarchicalChunker,
    MarkdownChunker,
    SemanticChunker,
    SentenceChunker,
    StructureChunker,
    TokenChunker,
)

STRATEGIES: dict[str, Callable[..., Chunker]] = {
    "token": TokenChunker,
    "sentence": SentenceChunker,
    "structure": StructureChunker,
    "markdown": MarkdownChunker,
    "semantic": SemanticChunker,
    "hierarchical": HierarchicalChunker,
}


class UnknownStrategy(ValueError):
    pass


def check_strategy(name: str) -> str:
    if name not in STRATEGIES:
        raise UnknownStrategy(f"unknown chunking strategy {name!r}; choose one of {', '.join(sorted(STRATEGIES))}")
    return name


def build_chunker(name: str, chunk_size: int, chunk_overlap: int, embedder=None) -> Chunker:
    """`embedder` (a core Embedder) is needed only by the semantic strategy."""
    check_strategy(name)
    overlap = min(chunk_overlap, chunk_size // 2)
    if name == "semantic":
        from core.embedders import LlamaIndexEmbedding

        if embedder is None:
            raise ValueError("the semantic strategy needs an embedder")
        return SemanticChunker(chunk_size, overlap, embed_model=LlamaIndexEmbedding.wrap(embedder))
    return STRATEGIES[name](chunk_size, overlap)
