"""Chunking strategies by name, so settings, the CLI and the eval harness can pick one."""

from __future__ import annotations

from core.embedders import Embedder, LlamaIndexEmbedding
from core.registry import Registry
from ingest.chunking.base import Chunker
from ingest.chunking.strategies import (
    HierarchicalChunker,
    MarkdownChunker,
    SemanticChunker,
    SentenceChunker,
    StructureChunker,
    TokenChunker,
)

# Every factory takes (chunk_size, chunk_overlap, embedder); only the semantic strategy uses the embedder.
STRATEGIES: Registry[Chunker] = Registry("chunking strategy")
for _name, _chunker in {"token": TokenChunker, "sentence": SentenceChunker, "structure": StructureChunker,
                        "markdown": MarkdownChunker, "hierarchical": HierarchicalChunker}.items():
    STRATEGIES.register(_name, lambda size, overlap, embedder=None, chunker=_chunker: chunker(size, overlap))


def _semantic(size: int, overlap: int, embedder: Embedder | None = None) -> Chunker:
    if embedder is None:
        raise ValueError("the semantic strategy needs an embedder")
    return SemanticChunker(size, overlap, embed_model=LlamaIndexEmbedding.wrap(embedder))


STRATEGIES.register("semantic", _semantic)

# Strategies whose chunks stand for a larger parent span: several chunks found can collapse into one passage.
PARENT_STRATEGIES = frozenset({"hierarchical"})


class UnknownStrategy(ValueError):
    pass


def check_strategy(name: str) -> str:
    if name not in STRATEGIES:
        raise UnknownStrategy(f"unknown chunking strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    return name


def build_chunker(name: str, chunk_size: int, chunk_overlap: int, embedder: Embedder | None = None) -> Chunker:
    """`embedder` (a core Embedder) is needed only by the semantic strategy."""
    check_strategy(name)
    return STRATEGIES.build(name, chunk_size, min(chunk_overlap, chunk_size // 2), embedder)
