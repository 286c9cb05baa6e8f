"""The answer writers by `CAIRN_ANSWER__GENERATOR`. The extractive reading of the evidence is always made (it is
what the confidence judges); a writer, when there is one, rewrites it from the same passages."""

from __future__ import annotations

import pybreaker

from core.registry import Registry
from core.settings import GeneratorName, LLMSettings
from retrieval.generation import Generator
from retrieval.llm import OpenAIGenerator
from retrieval.rerank import Reranker


def _extractive(settings: LLMSettings, reranker: Reranker, breaker: pybreaker.CircuitBreaker | None = None) -> Generator | None:
    return None  # the extractive answer is the answer


def _llm(settings: LLMSettings, reranker: Reranker, breaker: pybreaker.CircuitBreaker | None = None) -> Generator | None:
    return OpenAIGenerator(settings, reranker, breaker=breaker)


WRITERS: Registry[Generator | None] = Registry("generator")
WRITERS.register(GeneratorName.EXTRACTIVE, _extractive)
WRITERS.register(GeneratorName.LLM, _llm)
